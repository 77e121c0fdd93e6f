"""Hostile outputs: file names no terminal or CSV reader expects, and maps written among the photos.

Names are checked end to end: real files with such names, classified by the tiny model
through the engine, written by each writer to a strict UTF-8 stream, read back.
"""

import csv
import errno
import io
import json
import os
import subprocess
import sys

import matplotlib.text
import numpy as np
import pytest
from PIL import Image

from classifier.base.defaults import MAP_SOFTWARE
from classifier.base.errors import display_path
from classifier.engine.classifying import Engine
from classifier.gui.map_files import MapFolder
from classifier.images import expand_inputs, is_map_file
from classifier.model import Prediction
from classifier.output import WRITERS, CsvWriter, Result, TextWriter, path_from_csv
from conftest import PHOTOS, REPO

# Bytes a Linux file name may hold: not UTF-8, terminal escapes, line breaks, a bell, C1 CSI,
# a right-to-left override, quotes and backslashes.
HOSTILE_NAMES = [
    b"foto\xff.png", b"\xe9t\xe9 latin-1.png", b"rojo\x1b[31m.png", b"dos\nl\xc3\xadneas.png",
    b"retorno\rde carro.png", b"csi\xc2\x9b2J.png", b"campana\x07.png", b"al rev\xc3\xa9s \xe2\x80\xaegnp.png",
    b'comillas " y \\ barra.png', b'"empieza con comillas.png', b"Begon\xcc\x83a normal.png",
]
BROKEN_NAME = b"roto\xfe\x1b]0;titulo\x07.png"


def _strict_stream():
    """What a UTF-8 terminal or file accepts: anything it cannot encode raises."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="")


def _written(stream):
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8")  # strict: the output must be valid UTF-8


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory):
    folder = os.fsencode(tmp_path_factory.mktemp("nombres"))
    picture = Image.open(PHOTOS[0]).convert("RGB").resize((48, 32))
    for name in HOSTILE_NAMES:
        with open(os.path.join(folder, name), "wb") as fp:
            picture.save(fp, "PNG")
    with open(os.path.join(folder, BROKEN_NAME), "wb") as fp:
        fp.write(b"\x89PNG\r\n\x1a\n not really")
    return folder


@pytest.fixture(scope="module")
def hostile_results(hostile_folder, tiny_classifier):
    inputs = list(expand_inputs([os.fsdecode(hostile_folder)]))
    assert len(inputs) == len(HOSTILE_NAMES) + 1 and all(error is None for _, error in inputs)
    return list(Engine(tiny_classifier, top_k=3).run(inputs, batch_size=4))


def _exact(hostile_folder, names):
    return {os.path.join(hostile_folder, name) for name in names}


def test_text_output_of_hostile_names_is_printable_utf8(hostile_results):
    out, err = _strict_stream(), _strict_stream()
    writer = TextWriter(out, err)
    for result in hostile_results:
        writer.write(result)
    text, errors = _written(out), _written(err)
    for line in (text + errors).splitlines():
        assert line.isprintable(), repr(line)
    for result in hostile_results:
        shown = display_path(result.path)
        assert (f"{shown}\n" in text) if result.error is None else (f"«{shown}»" in errors)
    assert "foto\\xff.png" in text and "rojo\\u001b[31m.png" in text and "csi\\u009b2J.png" in text
    assert "dos\\nlíneas.png" in text and "\\u202egnp" in text
    assert errors.count("Error: No se puede clasificar") == 1 and "roto\\xfe\\u001b]0;titulo\\u0007.png" in errors


def test_json_lines_give_back_the_exact_bytes_of_every_name(hostile_results, hostile_folder):
    out = _strict_stream()
    writer = WRITERS["json"](out, _strict_stream())
    for result in hostile_results:
        writer.write(result)
    lines = _written(out).split("\n")
    assert lines.pop() == "" and len(lines) == len(HOSTILE_NAMES) + 1
    assert all(line.isprintable() for line in lines)  # no raw ESC, CSI or bell when the file is shown
    records = [json.loads(line) for line in lines]
    assert {os.fsencode(r["path"]) for r in records if "predictions" in r} == _exact(hostile_folder, HOSTILE_NAMES)
    [broken] = [r for r in records if "error" in r]
    assert os.fsencode(broken["path"]) == os.path.join(hostile_folder, BROKEN_NAME)


def test_csv_gives_back_the_exact_bytes_of_every_name(hostile_results, hostile_folder):
    out = _strict_stream()
    writer = CsvWriter(out, _strict_stream())
    for result in hostile_results:
        writer.write(result)
    text = _written(out)
    assert all(line.isprintable() for line in text.split("\n"))
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["path", "rank", "id", "label", "score"] and len(rows) == 3 * len(HOSTILE_NAMES)
    paths = [os.fsencode(path_from_csv(row[0])) for row in rows]
    assert set(paths) == _exact(hostile_folder, HOSTILE_NAMES)
    assert all(paths.count(path) == 3 for path in paths)
    # Printable names are written as they are: spreadsheets and scripts see the plain name.
    ordinary = os.fsdecode(os.path.join(hostile_folder, b"Begon\xcc\x83a normal.png"))
    assert [row[0] for row in rows].count(ordinary) == 3


@pytest.mark.parametrize("name", ["a.jpg", "C:\\fotos\\gato.jpg", "niño/año 2024.png", '"', 'x"y', "\\xff", "\\",
                                  "a\udcffb", "\ud800", "e\u0301", "\U0001f600.png", "\U000e0001", "\x00\x7f\x80\x9f",
                                  '"\\"\\\\"', "tab\there", "\u00a0nbsp"])
def test_the_csv_path_rule_round_trips_any_name(name):
    from classifier.output import csv_path

    field = csv_path(name)
    assert field.isprintable() and path_from_csv(field) == name
    assert (field == name) == (name.isprintable() and not name.startswith('"'))


# --- CSV: a carriage return stays inside its row ----------------------------------------------------


def test_a_carriage_return_in_a_label_or_a_name_keeps_one_row(tmp_path):
    predictions = [Prediction("con\rretorno", 0.75, 0), Prediction("normal, con coma", 0.25, 1)]
    out = io.StringIO()
    writer = CsvWriter(out, io.StringIO())
    writer.write(Result("/fotos/gato.jpg", predictions=predictions))
    writer.write(Result("/fotos/re\rtorno.jpg", predictions=predictions))
    saved = tmp_path / "salida.csv"
    saved.write_text(out.getvalue(), encoding="utf-8", newline="")
    with open(saved, newline="", encoding="utf-8") as fp:  # as the csv module says to read a file
        rows = list(csv.reader(fp))
    assert rows[0] == ["path", "rank", "id", "label", "score"]
    assert [row[3] for row in rows[1:]] == ['"con\\rretorno"', "normal, con coma"] * 2  # escaped as a name is
    assert [path_from_csv(row[3]) for row in rows[1:]] == ["con\rretorno", "normal, con coma"] * 2
    assert [path_from_csv(row[0]) for row in rows[1:]] == ["/fotos/gato.jpg"] * 2 + ["/fotos/re\rtorno.jpg"] * 2
    assert [row[1] for row in rows[1:]] == ["1", "2", "1", "2"]


# --- attention maps among the photos ---------------------------------------------------------------


def _photo(path, size=(48, 32)):
    Image.open(PHOTOS[0]).convert("RGB").resize(size).save(path, format="PNG")
    return path.read_bytes()


def _classify_with_maps(tiny_classifier, folder, maps):
    inputs = list(expand_inputs([str(folder)]))
    results = [maps.save(r) for r in Engine(tiny_classifier, top_k=3, maps=True).run(inputs, batch_size=4)]
    assert all(r.error is None for r in results), [r.error for r in results]
    return [r.path for r in results], [r.map_file for r in results]


def test_maps_in_the_photo_folder_replace_nothing_and_are_not_classified_on_a_rerun(tmp_path, tiny_classifier):
    photo = _photo(tmp_path / "a.png")
    users_map_named_photo = _photo(tmp_path / "a_mapa.png", size=(40, 40))  # the user's own picture
    maps = MapFolder(str(tmp_path))
    assert maps.error is None
    paths, written = _classify_with_maps(tiny_classifier, tmp_path, maps)
    assert paths == [str(tmp_path / "a.png"), str(tmp_path / "a_mapa.png")]
    assert written == [str(tmp_path / "a_mapa_2.png"), str(tmp_path / "a_mapa_mapa.png")]
    assert (tmp_path / "a.png").read_bytes() == photo
    assert (tmp_path / "a_mapa.png").read_bytes() == users_map_named_photo
    for map_file in written:
        assert Image.open(map_file).info["Software"] == MAP_SOFTWARE and is_map_file(map_file)
    assert not is_map_file(tmp_path / "a_mapa.png")

    # A rerun classifies the same two photos and writes new maps beside the old ones.
    again, rewritten = _classify_with_maps(tiny_classifier, tmp_path, MapFolder(str(tmp_path)))
    assert again == paths
    assert rewritten == [str(tmp_path / "a_mapa_3.png"), str(tmp_path / "a_mapa_mapa_2.png")]
    assert (tmp_path / "a_mapa.png").read_bytes() == users_map_named_photo


def _map_result(path):
    picture = Image.new("RGB", (48, 32), (30, 90, 200))
    return Result(path, predictions=[Prediction("gato", 0.6, 0), Prediction("perro", 0.4, 1)], picture=picture,
                  seen=picture, heatmap=[[0.1, 0.9], [0.3, 0.2]])


def test_a_map_never_writes_through_a_link_already_there(tmp_path):
    maps = tmp_path / "mapas"
    maps.mkdir()
    victim = tmp_path / "fuera" / "victima.png"
    victim.parent.mkdir()
    (maps / "gato_mapa.png").symlink_to(victim)  # dangling: the write would create the victim
    kept = tmp_path / "fuera" / "existente.txt"
    kept.write_text("no tocar")
    (maps / "perro_mapa.png").symlink_to(kept)
    folder = MapFolder(str(maps))
    first = folder.save(_map_result("/fotos/gato.jpg"))
    second = folder.save(_map_result("/fotos/perro.jpg"))
    assert first.error is None and second.error is None
    assert not victim.exists() and kept.read_text() == "no tocar"
    assert (first.map_file, second.map_file) == (str(maps / "gato_mapa_2.png"), str(maps / "perro_mapa_2.png"))
    assert not os.path.islink(first.map_file) and Image.open(first.map_file).format == "PNG"


def test_a_map_that_cannot_be_written_leaves_no_half_file_and_says_why_in_spanish(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def full_disk(self, target, **kwargs):
        if hasattr(target, "write"):
            target.write(b"\x89PNG half")
        else:
            with open(target, "wb") as fp:
                fp.write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    result = MapFolder(str(tmp_path)).save(_map_result("/fotos/gato.jpg"))
    assert result.predictions is None and result.map_file is None
    assert result.error == (f"No se pudo guardar el mapa de «/fotos/gato.jpg» en «{tmp_path / 'gato_mapa.png'}»: "
                            "no queda espacio en el disco.")
    assert list(tmp_path.iterdir()) == []


def test_a_map_folder_that_is_a_file_is_a_spanish_sentence(tmp_path):
    (tmp_path / "mapas").write_text("un archivo")
    assert MapFolder(str(tmp_path / "mapas")).error == (
        f"No se puede crear la carpeta de mapas «{tmp_path / 'mapas'}»: ya existe un archivo así.")


@pytest.mark.parametrize("label", [r"precio $\pesos$ 0", "de $5 a $6", "subíndice $x_1$"])
def test_a_label_with_dollar_signs_is_drawn_as_written(label):
    # matplotlib reads text between two $ as TeX: an unknown command used to stop the batch
    # with a traceback, and a known one would typeset the label into something else.
    from matplotlib.figure import Figure

    from classifier.gui.drawing import draw_result

    figure = Figure(dpi=100)
    predictions = [Prediction(label, 0.75, 0), Prediction(label + " bis", 0.25, 1)]
    picture = Image.open(PHOTOS[0]).convert("RGB").resize((96, 64))
    draw_result(figure, picture, predictions, heatmap=np.ones((4, 6)), box=(800, 600))
    figure.savefig(io.BytesIO(), format="png")  # lays out and renders every text
    texts = [text.get_text() for text in figure.findobj(matplotlib.text.Text)]
    assert any(label in text for text in texts), texts
    assert all(not text.get_parse_math() for text in figure.findobj(matplotlib.text.Text) if "$" in text.get_text())


def test_maps_with_an_unwritable_home_print_nothing_in_english(tmp_path, tiny_model_dir):
    # matplotlib wants a cache folder under HOME; when it cannot make one it says so in English.
    home = tmp_path / "casa"
    home.write_text("un archivo, no una carpeta")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env["HOME"] = str(home)
    done = subprocess.run([sys.executable, "script_modelo.py", "--model", str(tiny_model_dir), "--mapa",
                           str(tmp_path / "mapas"), str(PHOTOS[0])], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == ""
    assert len(list((tmp_path / "mapas").iterdir())) == 1


@pytest.mark.parametrize("stem", ["a" * 250, "ñ" * 125, "x" * 246])
def test_a_photo_with_a_long_name_still_gets_its_map(tmp_path, tiny_classifier, stem):
    # stem + "_mapa.png" would pass the 255 bytes a file name may have: the map's name is shortened
    # (by whole characters), and the photo keeps its predictions.
    photos = tmp_path / "fotos"
    photos.mkdir()
    photo = photos / f"{stem}.png"  # 250 to 254 bytes: a name the system takes
    _photo(photo)
    maps = MapFolder(str(tmp_path / "mapas"))
    for _ in range(2):  # the second map of the same photo: a second free name, shortened too
        [result] = [maps.save(r) for r in Engine(tiny_classifier, top_k=3, maps=True).run([(str(photo), None)], 1)]
        assert result.error is None and len(result.predictions) == 3
        name = os.path.basename(result.map_file)
        assert len(name.encode()) <= 255 and name.endswith(("_mapa.png", "_mapa_2.png"))
        assert stem.startswith(name.split("_mapa")[0]) and len(name.split("_mapa")[0]) > 200 // len(stem[0].encode())
        assert Image.open(result.map_file).format == "PNG"


# --- class names no terminal or CSV reader expects --------------------------------------------------

# A window title (OSC ... BEL) and a screen clear; a lone surrogate (config.json may hold "\ud800",
# which UTF-8 cannot write); a plain name. Each with the CSV cell expected for it: the table's escapes
# (\u001b, \ud800) between quotes, as CSV writes a file name with such characters; a plain name as it is.
HOSTILE_LABELS = {
    "ga\x1b]0;PWNED\x07to\x1b[2J": '"""ga\\u001b]0;PWNED\\u0007to\\u001b[2J"""',
    "ga\ud800to": '"""ga\\ud800to"""',
    "gato": "gato",
}


@pytest.fixture(scope="module")
def hostile_label_model(tmp_path_factory):
    from conftest import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("clases") / "modelo", labels=list(HOSTILE_LABELS))


def test_hostile_class_names_are_escaped_in_csv_and_in_the_csv_log(hostile_label_model, tmp_path):
    """The reference: the JSON output of the same photo (exact names, exact scores). The CSV on stdout
    and the CSV log write each name escaped, never raw, and give it back exactly (path_from_csv)."""
    photo = tmp_path / "rojo.png"
    _photo(photo)
    log = tmp_path / "log.csv"

    def run(*args):
        return subprocess.run([sys.executable, str(REPO / "script_modelo.py"), "--modelo", str(hostile_label_model),
                               "-k", "3", *args, "rojo.png"], capture_output=True, timeout=300, cwd=tmp_path,
                              env={k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")})

    reference = run("--formato", "json")
    assert (reference.returncode, reference.stderr) == (0, b"")
    record = json.loads(reference.stdout)
    assert {p["label"] for p in record["predictions"]} == set(HOSTILE_LABELS)  # the names as the model has them
    done = run("--formato", "csv", "--guardar", str(log))
    rows = [f'rojo.png,{rank},{p["id"]},{HOSTILE_LABELS[p["label"]]},{p["score"]!r}\n'
            for rank, p in enumerate(record["predictions"], start=1)]
    assert (done.returncode, done.stderr, done.stdout.decode("utf-8")) == (
        0, b"", "path,rank,id,label,score\n" + "".join(rows))
    cells = ",".join(f'{p["id"]},{HOSTILE_LABELS[p["label"]]},{p["score"]!r}' for p in record["predictions"])
    assert log.read_bytes().decode("utf-8") == (
        "path,error,id_1,label_1,score_1,id_2,label_2,score_2,id_3,label_3,score_3\n"
        f"{os.path.realpath(photo)},,{cells}\n")  # the log keeps the absolute path
    for text in (done.stdout.decode("utf-8"), log.read_text(encoding="utf-8")):
        written = [row[3] for row in csv.reader(io.StringIO(text, newline=""))][1:]
        if text.startswith("path,error"):
            written = [label for row in csv.reader(io.StringIO(text, newline="")) for label in row[3::3]][3:]
        assert [path_from_csv(cell) for cell in written] == [p["label"] for p in record["predictions"]]
    # A rerun finds the photo in the log: nothing to classify, the file as it was.
    before = log.read_bytes()
    again = run("--formato", "csv", "--guardar", str(log))
    assert (again.returncode, again.stdout, log.read_bytes()) == (0, b"", before)
    assert again.stderr.decode("utf-8") == (f"Todas las imágenes ya están en «{log}»: no queda nada por clasificar "
                                            "(para repetirlas, elija otro archivo).\n")


# --- what the program writes among the photos is not classified as a photo on the next run --------


def _json_paths(out):
    return [json.loads(line)["path"] for line in out.splitlines()]


def _saved_figure(target):
    """A figure saved as the window's «Guardar la figura» saves it (the window itself: the test below)."""
    from matplotlib.figure import Figure

    from classifier.gui.drawing import draw_result, save_figure

    figure = Figure(dpi=100)
    photo = Image.open(PHOTOS[0]).convert("RGB")
    draw_result(figure, photo, [Prediction("gato", 0.9, 0)], None, photo)
    save_figure(figure, str(target))


def test_a_folder_run_skips_the_maps_and_figures_this_program_wrote_and_says_so(capsys, tiny_model_dir, tmp_path):
    from classifier.app.cli import main

    folder = tmp_path / "fotos"
    folder.mkdir()
    _photo(folder / "gato.png")
    _saved_figure(folder / "gato_resultado.png")
    _photo(folder / "perro_resultado.png", size=(40, 40))  # the user's own picture with such a name
    model = ["--modelo", str(tiny_model_dir), "-f", "json", "-k", "3"]
    photos = [str(folder / "gato.png"), str(folder / "perro_resultado.png")]
    capsys.readouterr()
    assert main([*model, "--mapa", str(folder), str(folder)]) == 0  # the maps go among the photos
    out, err = capsys.readouterr()
    assert _json_paths(out) == photos
    assert err == ("Se omite 1 imagen que escribió este programa (un mapa de --mapa o una figura guardada desde la "
                   "ventana): no es una foto; para clasificarla, nómbrela como archivo.\n")
    assert sorted(os.listdir(folder)) == ["gato.png", "gato_mapa.png", "gato_resultado.png", "perro_resultado.png",
                                          "perro_resultado_mapa.png"]
    assert main([*model, str(folder)]) == 0  # the next run on that folder
    out, err = capsys.readouterr()
    assert _json_paths(out) == photos and err.startswith("Se omiten 3 imágenes que escribió este programa")
    # Named on its own, a file is classified whatever wrote it.
    assert main([*model, str(folder / "gato_resultado.png")]) == 0
    out, err = capsys.readouterr()
    assert _json_paths(out) == [str(folder / "gato_resultado.png")] and err == ""
    assert len(json.loads(out)["predictions"]) == 3


def test_a_folder_of_nothing_but_the_programs_outputs_says_so(capsys, tiny_model_dir, tmp_path):
    from classifier.app.cli import main

    _saved_figure(tmp_path / "gato_resultado.png")
    assert main(["--modelo", str(tiny_model_dir), str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"Error: La carpeta «{tmp_path}» solo contiene imágenes que escribió este programa (mapas de --mapa o "
        "figuras guardadas desde la ventana); para clasificar una, nómbrela como archivo.\n")


def test_a_photo_named_as_a_file_and_through_its_folder_is_classified_once(capsys, tiny_model_dir, tmp_path,
                                                                           monkeypatch):
    from classifier.app.cli import main

    _photo(tmp_path / "gato.png")
    _photo(tmp_path / "perro.png", size=(40, 40))
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["--modelo", str(tiny_model_dir), "-f", "json", "./gato.png", ".", str(tmp_path / "gato.png")]) == 0
    assert _json_paths(capsys.readouterr().out) == ["./gato.png", "./perro.png"]


_SAVE_PROBE = """
import sys
from tkinter import filedialog
sys.path.insert(0, "tests")
from PIL import Image
from conftest import PHOTOS
from classifier.gui import result_window as gui
from classifier.model import Prediction
from classifier.output import Result

photo = Image.open(PHOTOS[0]).convert("RGB")
window = gui.ResultWindow([Result(str(PHOTOS[0]), predictions=[Prediction("gato", 0.9, 0)], picture=photo,
                                  seen=photo)])
for target in sys.argv[1:]:
    filedialog.asksaveasfilename = lambda target=target, **options: target  # what the user types in the dialog
    window.save()
window.close()
"""


def test_the_windows_saved_figure_carries_the_programs_mark(tmp_path):
    import xdesktop

    if xdesktop.available() is not None:
        pytest.skip(xdesktop.available())
    png, pdf = tmp_path / "gato_resultado.png", tmp_path / "gato_resultado.pdf"
    with xdesktop.VirtualScreen() as screen:
        done = subprocess.run([sys.executable, "-c", _SAVE_PROBE, str(png), str(pdf)], cwd=REPO, env=screen.env(),
                              capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr) == (0, "")
    assert Image.open(png).format == "PNG" and is_map_file(png)
    assert pdf.read_bytes().startswith(b"%PDF")
    [(path, error)] = list(expand_inputs([str(tmp_path)]))  # nothing of it is taken for a photo
    assert path == str(tmp_path) and "solo contiene imágenes que escribió este programa" in str(error)
