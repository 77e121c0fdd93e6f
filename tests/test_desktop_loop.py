"""The desktop loop with the picker, the window and input() replaced by fakes; the layout off screen."""

import itertools
import os
import subprocess
import sys
import threading
import unicodedata

import pytest
from PIL import Image

from classifier.app.cli import main
from classifier.app.desktop import AGAIN_PROMPT, BackgroundLoader, desktop_loop, parse_answer
from classifier.app.desktop_state import pictures_folder, remember_folder, start_folder
from classifier.base.errors import ModelLoadError
from conftest import LINE, PHOTOS, REPO, TINY_LABELS
from fakes import FakeUI, Script


def _ready_loader(classifier, say):
    return BackgroundLoader(lambda: classifier, say).start()


@pytest.mark.parametrize("text", ["s", "S", " si ", "Si", "SÍ", "sí", unicodedata.normalize("NFD", "sí"), "\tS\n"])
def test_yes_answers(text):
    assert parse_answer(text) is True


@pytest.mark.parametrize("text", ["n", "N", " no ", "No", "NO\n"])
def test_no_answers(text):
    assert parse_answer(text) is False


@pytest.mark.parametrize("text", ["", " ", "x", "yes", "sii", "nop", "s n", "0"])
def test_other_answers_ask_again(text):
    assert parse_answer(text) is None


def test_a_session_with_a_photo_a_cancel_and_a_bad_file(tiny_classifier, tmp_path):
    bad = tmp_path / "roto.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    ui = FakeUI([str(PHOTOS[0]), None, str(bad)])
    script = Script(["s", "sí", "n"])
    code = desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask)
    assert code == 0
    [result] = ui.shown
    predictions = result.predictions
    assert result.path == str(PHOTOS[0])
    [expected] = tiny_classifier.classify([Image.open(PHOTOS[0]).convert("RGB")], 7)
    assert [p.label for p in predictions] == [p.label for p in expected]
    assert [p.score for p in predictions] == pytest.approx([p.score for p in expected], abs=1e-5)
    assert result.heatmap.values.shape == (4, 6)  # the window gets the attention map of the 4 x 6 patch grid
    block = script.lines[0].splitlines()
    assert block[0] == str(PHOTOS[0])
    assert [LINE.match(line)[3] for line in block[1:]] == [f"{p.score:.3f}" for p in predictions]
    assert "No se eligió ninguna imagen." in script.lines
    assert any(line.startswith("Error: No se puede clasificar") and "roto.jpg" in line for line in script.lines)
    [(title, message)] = ui.errors  # the broken file also in a message box, where the user is looking
    assert title == "No se pudo clasificar" and "roto.jpg" in message and message.startswith("No se puede")
    assert script.prompts == ["¿Clasificar otra imagen? (s/n) "] * 3
    assert script.lines[-1] == "¡Hasta luego!"


def test_an_unclear_answer_is_asked_again(tiny_classifier):
    script = Script(["quizá", "", "N"])
    code = desktop_loop(FakeUI([None]), _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask)
    assert code == 0
    assert len(script.prompts) == 3
    assert script.lines.count("Responda «s» para elegir otra imagen o «n» para terminar.") == 2


def test_end_of_input_at_the_prompt_ends_cleanly(tiny_classifier):
    script = Script([EOFError()])
    assert desktop_loop(FakeUI([None]), _ready_loader(tiny_classifier, script.say), 7,
                            script.say, script.ask) == 0


def test_top_k_reaches_the_terminal_and_the_window(tiny_classifier):
    ui = FakeUI([str(PHOTOS[1])])
    script = Script(["n"])
    desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 100, script.say, script.ask)
    assert len(ui.shown[0].predictions) == len(TINY_LABELS)
    assert len(script.lines[0].splitlines()) == 1 + len(TINY_LABELS)


def test_picking_before_the_model_is_ready_says_it_is_loading(tiny_classifier):
    release = threading.Event()

    def slow_load():
        release.wait(10)
        return tiny_classifier

    script = Script(["n"])
    loader = BackgroundLoader(slow_load, script.say).start()
    threading.Timer(0.2, release.set).start()
    code = desktop_loop(FakeUI([str(PHOTOS[0])]), loader, 7, script.say, script.ask)
    assert code == 0
    assert script.lines[0] == "Cargando el modelo…"
    assert script.lines[1].startswith(str(PHOTOS[0]))


def test_a_model_that_failed_while_the_picker_was_open_exits_2_after_one_message():
    script = Script([])
    loader = BackgroundLoader(lambda: (_ for _ in ()).throw(ModelLoadError("No hay modelo.")), script.say).start()
    loader._done.wait(5)
    ui = FakeUI([str(PHOTOS[0])])
    code = desktop_loop(ui, loader, 7, script.say, script.ask)
    assert code == 2
    assert loader.failed_event.is_set()  # what closes an open picker at once
    assert script.lines == ["Error: No hay modelo."]  # said once in the terminal...
    assert ui.errors == [("No se pudo cargar el modelo", "No hay modelo.")]  # ...and once on screen
    assert script.prompts == []


def test_a_model_that_fails_while_the_user_waits_exits_2_after_one_message():
    release = threading.Event()

    def failing_load():
        release.wait(10)
        raise ModelLoadError("Los pesos están dañados.")

    script = Script([])
    loader = BackgroundLoader(failing_load, script.say).start()
    threading.Timer(0.2, release.set).start()
    ui = FakeUI([str(PHOTOS[0])])
    code = desktop_loop(ui, loader, 7, script.say, script.ask)
    assert code == 2
    assert script.lines == ["Cargando el modelo…", "Error: Los pesos están dañados."]
    assert ui.errors == [("No se pudo cargar el modelo", "Los pesos están dañados.")]


def test_a_picker_that_cannot_open_falls_back_to_the_terminal(tiny_classifier):
    script = Script([str(PHOTOS[0]), "n"])
    ui = FakeUI([RuntimeError("no display name and no $DISPLAY")])
    code = desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask)
    assert code == 0
    assert script.lines[0].startswith("No se puede abrir una ventana")
    assert script.prompts[0].startswith("Ruta de la imagen")
    assert script.lines[1].startswith(str(PHOTOS[0]))


def _run_interactive(model_dir, *extra):
    return main(["--model", str(model_dir), *extra])


def _answers(monkeypatch, answers):
    answers = list(answers)

    def fake_input(prompt=""):
        print(prompt, end="")
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr("builtins.input", fake_input)


def test_without_a_display_paths_are_typed_in_the_terminal(monkeypatch, capsys, tiny_model_dir):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _answers(monkeypatch, [f'"{PHOTOS[0]}"', "s", "", "no"])
    code = main(["--model", str(tiny_model_dir), "-k", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("No hay pantalla disponible")
    assert f"{PHOTOS[0]}\n" in out
    assert len([line for line in out.splitlines() if LINE.match(line)]) == 3
    assert "No se eligió ninguna imagen." in out and out.rstrip().endswith("¡Hasta luego!")


def test_without_a_display_a_typed_folder_is_its_photos_as_in_the_batch(monkeypatch, capsys, tiny_model_dir,
                                                                         tmp_path):
    # It was refused: «No se puede clasificar «fotos»: es una carpeta, no un archivo de imagen».
    import shutil

    folder = tmp_path / "mis fotos"
    (folder / "sub").mkdir(parents=True)
    for photo in PHOTOS[:3]:
        shutil.copy(photo, folder / photo.name)
    shutil.copy(PHOTOS[3], folder / "sub" / PHOTOS[3].name)  # a subfolder's photos: only with --recursivo
    (tmp_path / "vacia").mkdir()
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _answers(monkeypatch, [f"'{folder}'", "s", str(tmp_path / "vacia"), "n"])
    assert main(["--model", str(tiny_model_dir), "-k", "3"]) == 0
    out = capsys.readouterr().out
    main(["--model", str(tiny_model_dir), "-k", "3", str(folder)])  # the batch on the same folder: the reference
    batch = capsys.readouterr().out
    prompt = "Ruta de la imagen o de la carpeta (Intro sin nada para ninguna): "
    lines = out.splitlines()
    assert lines[0] == "No hay pantalla disponible: escriba la ruta de cada imagen en la terminal."
    assert lines[1].startswith(prompt)
    first = next(index for index, line in enumerate(lines) if line.startswith(str(folder)))
    blocks = [line for block in batch.strip().split("\n\n") for line in block.splitlines()]
    assert lines[first:first + len(blocks)] == blocks
    assert sorted(name for name in os.listdir(folder) if name.endswith(("png", "jpg"))) == [
        line.rsplit("/", 1)[1] for line in batch.splitlines() if line.startswith(str(folder))]
    assert f"La carpeta «{tmp_path / 'vacia'}» no contiene imágenes" in out
    assert out.rstrip().endswith("¡Hasta luego!")


def test_without_a_display_a_typed_folder_leaves_the_programs_outputs_out_and_says_so(
        monkeypatch, capsys, tiny_model_dir, tmp_path):
    # As the batch does (test_hostile_outputs): the typed folder's saved figure is left out, with its note.
    from test_hostile_outputs import _photo, _saved_figure

    folder = tmp_path / "fotos"
    folder.mkdir()
    _photo(folder / "gato.png")
    _saved_figure(folder / "gato_resultado.png")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _answers(monkeypatch, [str(folder), "n"])
    assert main(["--model", str(tiny_model_dir), "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert ("Se omite 1 imagen que escribió este programa (un mapa de --mapa o una figura guardada desde la "
            "ventana): no es una foto; para clasificarla, nómbrela como archivo.") in out
    assert [line for line in out.splitlines() if line.startswith(str(folder))] == [str(folder / "gato.png")]


@pytest.mark.parametrize("where", ["picker", "prompt"])
def test_ctrl_c_ends_cleanly_with_status_0(monkeypatch, capsys, tiny_model_dir, where):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _answers(monkeypatch, [KeyboardInterrupt()] if where == "picker" else ["", KeyboardInterrupt()])
    code = _run_interactive(tiny_model_dir)
    out, err = capsys.readouterr()
    assert code == 0
    assert out.rstrip().endswith("¡Hasta luego!") and "Traceback" not in out + err


def test_ctrl_d_in_the_terminal_picker_ends_cleanly(monkeypatch, capsys, tiny_model_dir):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    _answers(monkeypatch, [EOFError(), EOFError()])
    assert _run_interactive(tiny_model_dir) == 0


def test_several_photos_in_one_pick_are_each_printed_and_shown_in_one_window(tiny_classifier):
    picks = [str(PHOTOS[0]), str(PHOTOS[1]), str(PHOTOS[2])]
    ui, script = FakeUI([picks]), Script(["n"])
    assert desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask) == 0
    [window] = ui.windows  # one window, one page per photo
    assert [result.path for result in window] == picks
    blocks = [line.splitlines() for line in script.lines if "\n" in line]
    assert [block[0] for block in blocks] == picks
    for block, result in zip(blocks, window, strict=True):
        assert [LINE.match(line)[3] for line in block[1:]] == [f"{p.score:.3f}" for p in result.predictions]
    assert script.prompts == [AGAIN_PROMPT]  # asked once for the whole pick


@pytest.mark.parametrize(("answer", "letter"), [(True, "s"), (False, "n")])
def test_an_answer_given_in_the_window_is_written_after_the_prompt(tiny_classifier, answer, letter):
    ui = FakeUI([str(PHOTOS[0])] + ([None] if answer else []), answers=[answer])
    script = Script(["n"] if answer else [])
    assert desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask) == 0
    # The terminal reads as the conversation it was: the question, then the window's answer.
    assert f"{AGAIN_PROMPT}{letter}" in script.lines
    assert script.prompts == ([AGAIN_PROMPT] if answer else [])  # only the round without a window asks
    assert script.lines[-1] == "¡Hasta luego!"


def test_a_pick_with_good_and_broken_files_shows_the_good_ones_and_one_message_box(tiny_classifier, tmp_path):
    broken = tmp_path / "roto.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n nothing")
    ui, script = FakeUI([[str(PHOTOS[0]), str(broken)]]), Script(["n"])
    desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask)
    assert [result.path for result in ui.shown] == [str(PHOTOS[0])]
    [(title, message)] = ui.errors
    assert "roto.png" in message and f"Error: {message}" in script.lines


def test_the_picker_opens_in_the_last_folder_used_across_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "casa"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "casa").mkdir()
    state = os.path.join(tmp_path / "config", "clasificador-vit", "estado.json")
    from classifier.app.desktop_state import default_state_file

    assert default_state_file() == state
    assert start_folder(state) == os.getcwd()  # first run, no pictures folder: the current one
    photos = tmp_path / "casa" / "Imágenes"
    photos.mkdir()
    assert start_folder(state) == str(photos)  # first run with a pictures folder
    holidays = tmp_path / "vacaciones"
    holidays.mkdir()
    remember_folder(state, str(holidays))  # what the first run leaves behind
    assert start_folder(state) == str(holidays)  # the next run opens there
    holidays.rmdir()
    assert start_folder(state) == str(photos)  # a folder that is gone is not offered


def test_the_pictures_folder_comes_from_xdg_user_dirs(monkeypatch, tmp_path):
    home, config = tmp_path / "casa", tmp_path / "config"
    (home / "Fotos").mkdir(parents=True)
    config.mkdir()
    (config / "user-dirs.dirs").write_text('XDG_DESKTOP_DIR="$HOME/Escritorio"\nXDG_PICTURES_DIR="$HOME/Fotos"\n')
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    assert pictures_folder() == str(home / "Fotos")


def test_a_python_without_tkinter_says_what_to_install_and_uses_the_terminal(tiny_model_dir, tmp_path):
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "tkinter.py").write_text("raise ModuleNotFoundError(\"No module named '_tkinter'\", name='_tkinter')\n")
    done = subprocess.run(
        [sys.executable, "script_modelo.py", "--modelo", str(tiny_model_dir), "-k", "2"],
        cwd=REPO, input=f"{PHOTOS[0]}\nn\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(stub), "DISPLAY": ":99", "XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    first = done.stdout.splitlines()[0]
    assert first.startswith("Este Python no tiene tkinter") and "sudo apt install python3-tk" in first
    assert f"{PHOTOS[0]}\n" in done.stdout and done.stdout.rstrip().endswith("¡Hasta luego!")


# --- the window's layout, drawn off screen -----------------------------------------------------------

SCREENS = [(1024, 600), (1366, 768), (1920, 1080)]
SHAPES = [(4000, 3000), (4000, 500), (300, 3000), (1, 1)]


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("has_map", [True, False])
def test_the_window_fits_the_screen_and_uses_most_of_it(screen, shape, has_map):
    from classifier.gui.drawing import plan_layout
    from classifier.gui.result_window import KEY_BAR_HEIGHT, window_box

    layout = plan_layout(shape, shape, has_map, 7, window_box(*screen))
    width, height = layout.width, layout.height + KEY_BAR_HEIGHT
    assert width <= screen[0] and height <= screen[1]
    assert width >= 0.6 * screen[0] or height >= 0.6 * screen[1]
    boxes = [box for box in (layout.picture, layout.map, layout.legend, layout.bars) if box is not None]
    for box in boxes:  # every panel inside the figure
        assert box.left >= 0 and box.top >= 0
        assert box.left + box.width <= layout.width + 0.5 and box.top + box.height <= layout.height + 0.5


def test_the_layout_follows_the_picture_shape():
    from classifier.gui.drawing import plan_layout
    from classifier.gui.result_window import window_box

    box = window_box(1920, 1080)
    assert plan_layout((4000, 500), (4000, 500), True, 7, box).arrangement in ("apilada", "columna")
    strip = plan_layout((300, 3000), (300, 3000), True, 7, box)
    assert strip.arrangement == "fila" and strip.picture.height > 700  # a tall strip stands at full height
    panorama = plan_layout((4000, 500), (4000, 500), True, 7, box)
    assert panorama.picture.width > 1200  # a panorama gets the width


def _render(image, predictions, heatmap, box):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from classifier.gui.drawing import draw_result

    figure = Figure(dpi=100)
    FigureCanvasAgg(figure)
    layout = draw_result(figure, image, predictions, heatmap, image, box=box)
    figure.canvas.draw()
    return figure, layout


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("shape", [(4000, 3000), (4000, 500), (300, 3000), (40, 30)])
def test_titles_never_overlap_and_stay_inside(tiny_classifier, screen, shape):
    from classifier.gui.result_window import window_box

    image = Image.new("RGB", shape, (200, 40, 40))
    [(predictions, heatmap)] = tiny_classifier.classify_with_maps([image], 7)
    # A long Spanish label: the title must wrap or shorten, never run into its neighbour.
    predictions[0] = predictions[0]._replace(label="perro pastor de las islas Shetland, collie miniatura")
    figure, layout = _render(image, predictions, heatmap, window_box(*screen))
    renderer = figure.canvas.get_renderer()
    titles = [axes.title for axes in figure.axes if axes.get_title()] + list(figure.texts)
    boxes = [text.get_window_extent(renderer) for text in titles]
    assert len(boxes) == 3  # the picture's, the map's and the bars'
    width, height = figure.canvas.get_width_height()
    for index, one in enumerate(boxes):
        assert one.x0 >= 0 and one.x1 <= width and one.y0 >= 0 and one.y1 <= height, titles[index].get_text()
        for other in boxes[index + 1:]:
            assert not one.overlaps(other), (titles[index].get_text(), one, other)


def test_the_map_covers_exactly_the_picture(tiny_classifier):
    image = Image.new("RGB", (37, 23), (10, 200, 30))
    [(predictions, heatmap)] = tiny_classifier.classify_with_maps([image], 7)
    figure, _ = _render(image, predictions, heatmap, (1500, 800))
    picture, overlay = figure.axes[0], figure.axes[1]
    base, heat = overlay.get_images()
    assert tuple(base.get_extent()) == tuple(heat.get_extent()) == (0, 37, 23, 0)
    assert overlay.get_xlim() == (0, 37) and overlay.get_ylim() == (23, 0)
    assert tuple(picture.get_images()[0].get_extent()) == (0, 37, 23, 0)


def test_the_map_has_a_plain_title_and_a_legend(tiny_classifier):
    image = Image.open(PHOTOS[0]).convert("RGB")
    [(predictions, heatmap)] = tiny_classifier.classify_with_maps([image], 7)
    figure, _ = _render(image, predictions, heatmap, (1500, 800))
    overlay, legend = figure.axes[1], figure.axes[2]
    assert overlay.get_title() == "Dónde se fijó el modelo\npor su atención (rollout)"  # the method, plainly
    assert [t.get_text() for t in legend.get_xticklabels()] == ["poca atención", "mucha atención"]


def test_the_window_shows_percentages_with_a_decimal_comma(tiny_classifier):
    image = Image.open(PHOTOS[0]).convert("RGB")
    [predictions] = tiny_classifier.classify([image], 7)
    figure, _ = _render(image, predictions, None, (1500, 800))
    picture, bars = figure.axes
    best = predictions[0]
    assert picture.get_title().replace("\n", " ").endswith(f"({best.score * 100:.1f} %)".replace(".", ","))
    assert [p.get_width() for p in bars.patches] == pytest.approx([p.score for p in predictions])
    values = [t.get_text() for t in bars.texts]
    assert values == [f"{p.score * 100:.1f} %".replace(".", ",") for p in predictions]


def test_timers_cancel_every_python_callback_and_never_tks_own():
    import tkinter

    from classifier.gui.timers import Timers

    tcl = tkinter.Tcl()  # a Tcl interpreter: after() as in Tk, no screen needed
    timers = Timers(tcl)
    ran = []
    timers.every(100, lambda: ran.append("every"))
    timers.once(50, lambda: None, "front")
    tcl.after_idle(lambda: None)  # one a library scheduled (matplotlib's idle draw, say)
    # Tk's own, with Tcl scripts: the file list's type-ahead reset is a list (a TypeError for after_cancel).
    tcl.tk.eval("after 500 [list set ::reset 1]; after 500 {set ::plain 1}")
    assert len(tcl.tk.splitlist(tcl.tk.call("after", "info"))) == 5
    timers.cancel_all()
    left = [tcl.tk.eval(f"lindex [after info {timer}] 0") for timer in tcl.tk.splitlist(tcl.tk.call("after", "info"))]
    assert sorted(left) == ["set ::plain 1", "set ::reset 1"]
    timers.cancel_all()  # twice is harmless
    assert not ran


def test_the_stop_signal_handlers_are_put_back_after_a_window(monkeypatch):
    import signal

    from classifier.base.status import StopEvent, Stopped
    from classifier.gui.timers import stop_signals_set

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    event = StopEvent()
    with stop_signals_set(event):
        os.kill(os.getpid(), signal.SIGTERM)
    assert event.is_set() and event.signum == signal.SIGTERM
    assert {signum: signal.getsignal(signum) for signum in before} == before
    with pytest.raises(Stopped) as stopped:
        event.raise_if_set()
    assert stopped.value.status == 143


def test_the_desktop_records_every_classified_image_with_guardar(tiny_classifier, tmp_path):
    from classifier.results_log import ResultsLog

    broken = tmp_path / "roto.png"
    broken.write_bytes(b"nada")
    saved = tmp_path / "sesion.jsonl"
    ui, script = FakeUI([[str(PHOTOS[0]), str(broken)], str(PHOTOS[1])]), Script(["s", "n"])
    with ResultsLog.open(saved, 7) as log:
        desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask, log)
    import json

    records = [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()]
    assert [r["path"] for r in records] == [str(PHOTOS[0]), str(broken), str(PHOTOS[1])]
    assert "error" in records[1] and len(records[2]["predictions"]) == 7


def test_the_same_photo_picked_twice_in_the_desktop_is_recorded_once(tiny_classifier, tmp_path, monkeypatch):
    import json
    import shutil

    from classifier.results_log import ResultsLog

    monkeypatch.chdir(tmp_path)
    shutil.copy(PHOTOS[0], tmp_path / "gato.png")
    saved = tmp_path / "sesion.jsonl"
    ui, script = FakeUI([str(tmp_path / "gato.png"), "./gato.png", "gato.png"]), Script(["s", "s", "n"])
    with ResultsLog.open(saved, 7) as log:
        desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask, log)
    assert [json.loads(line)["path"] for line in saved.read_text(encoding="utf-8").splitlines()] == [
        str(tmp_path / "gato.png")]
    assert len(ui.shown) == 3  # each pick is still classified and shown


def test_one_prediction_is_titled_in_the_singular():
    from classifier.gui.drawing import bars_title

    assert bars_title(1) == "La clase más probable" and bars_title(7) == "Las 7 clases más probables"


def test_many_broken_files_make_a_short_message_box(tiny_classifier, tmp_path):
    broken = []
    for index in range(20):
        path = tmp_path / f"roto_{index:02}.png"
        path.write_bytes(b"nada")
        broken.append(str(path))
    ui, script = FakeUI([broken]), Script(["n"])
    desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask)
    [(title, message)] = ui.errors
    assert message.count("roto_") == 4 and message.endswith("Y 16 archivos más que no se pudieron clasificar: "
                                                            "la terminal los nombra.")
    assert sum(line.startswith("Error:") for line in script.lines) == 20  # the terminal names them all


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("shape", [(4000, 3000), (300, 3000), (10, 5000)])
def test_the_legend_words_never_run_into_each_other(tiny_classifier, screen, shape):
    from classifier.gui.result_window import window_box

    image = Image.new("RGB", shape, (200, 40, 40))
    [(predictions, heatmap)] = tiny_classifier.classify_with_maps([image], 7)
    figure, _ = _render(image, predictions, heatmap, window_box(*screen))
    renderer = figure.canvas.get_renderer()
    legend = figure.axes[2]
    words = [label.get_window_extent(renderer) for label in legend.get_xticklabels() if label.get_text()]
    assert len(words) >= 2
    for one, other in itertools.pairwise(words):
        assert one.x1 <= other.x0, [label.get_text() for label in legend.get_xticklabels()]


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("shape", SHAPES + [(10, 5000)])
@pytest.mark.parametrize("method", ["rollout", "grad-cam"])
def test_the_legend_reads_its_two_ends_whole_on_every_screen(tiny_classifier, screen, shape, method):
    # At 1024 x 600 a narrow map's scale read «poco peso mucho» (three words, one end cut in two).
    from classifier.gui.result_window import window_box
    from classifier.maps import GRAD_CAM, ROLLOUT, Heatmap

    chosen = {"rollout": ROLLOUT, "grad-cam": GRAD_CAM}[method]
    image = Image.new("RGB", shape, (200, 40, 40))
    [(predictions, heatmap)] = tiny_classifier.classify_with_maps([image], 7)
    figure, _ = _render(image, predictions, Heatmap(heatmap.values, chosen), window_box(*screen))
    renderer = figure.canvas.get_renderer()
    legend = figure.axes[2]
    labels = [label for label in legend.get_xticklabels() if label.get_text()]
    assert [label.get_text().replace("\n", " ") for label in labels] == [chosen.low, chosen.high]
    left, right = (label.get_window_extent(renderer) for label in labels)
    assert left.x1 < right.x0
    width, height = figure.canvas.get_width_height()
    assert all(0 <= box.x0 and box.x1 <= width and 0 <= box.y0 for box in (left, right))
    assert min(label.get_fontsize() for label in labels) >= 8


@pytest.mark.parametrize("case", ["fifo", "dev_zero", "nested", "huge"])
def test_a_hostile_state_or_user_dirs_file_falls_back_at_once(monkeypatch, tmp_path, case):
    # The picker's folder comes from two settings files; either may be anything a user's
    # disk holds. Each case used to hang, eat all memory or end in a traceback.
    home, config = tmp_path / "casa", tmp_path / "config"
    (home / "Fotos").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    state = config / "clasificador-vit" / "estado.json"
    state.parent.mkdir(parents=True)
    user_dirs = config / "user-dirs.dirs"
    for path in (state, user_dirs):
        if case == "fifo":
            os.mkfifo(path)
        elif case == "dev_zero":
            path.symlink_to("/dev/zero")
        elif case == "nested":
            path.write_text('{"carpeta": ' + "[" * 100_000 + "]" * 100_000 + "}")
        else:
            path.write_text('XDG_PICTURES_DIR="$HOME/Fotos"\n' + "#" * 10_000_000 + "\n")
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(folder=start_folder(str(state))), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert outcome.get("folder") == os.getcwd()


@pytest.mark.parametrize("typed", ["~/gato.png", "'~/gato.png'", '  "~/gato.png" '])
def test_a_path_typed_in_the_terminal_mode_expands_the_home_folder(monkeypatch, tmp_path, typed):
    from classifier.app.terminal import TerminalUI

    monkeypatch.setenv("HOME", str(tmp_path))
    assert TerminalUI(lambda prompt: typed, print).pick() == [str(tmp_path / "gato.png")]


# --- the model fails while the terminal waits; the terminal cannot be written -----------------------

_FAILING_SESSION = """
import sys, time
sys.path.insert(0, {repo!r})
from classifier.app.desktop import run_desktop
from classifier.base.errors import ModelLoadError

def load():
    time.sleep(1.5)  # the prompt, asked as soon as the loader starts, is waiting by then
    raise ModelLoadError("No se pudo descargar el modelo «x»: el servidor no responde.")

sys.exit(int(run_desktop(load, 7)))
"""


@pytest.mark.parametrize("terminal", ["pipe", "tty"])
def test_a_model_that_fails_while_the_terminal_prompt_waits_ends_the_session_with_2(tmp_path, terminal):
    import pty

    from conftest import without_screen

    command = [sys.executable, "-c", _FAILING_SESSION.format(repo=str(REPO))]
    env = {**without_screen(), "XDG_CONFIG_HOME": str(tmp_path)}
    if terminal == "pipe":
        # stdin stays open and silent: the user has typed nothing yet.
        silent, keyboard = os.pipe()
        process = subprocess.Popen(command, env=env, stdin=silent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        os.close(silent)
        try:
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()
            os.close(keyboard)
        code = process.returncode
    else:
        main_fd, terminal_fd = pty.openpty()
        process = subprocess.Popen(command, env=env, stdin=terminal_fd, stdout=terminal_fd, stderr=terminal_fd,
                                   close_fds=True)
        os.close(terminal_fd)
        chunks = []
        try:
            while True:
                try:
                    chunk = os.read(main_fd, 4096)
                except OSError:  # the program ended: the terminal is gone
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            code = process.wait(60)
        finally:
            process.kill()
            os.close(main_fd)
        out, err = b"".join(chunks).decode("utf-8").replace("\r\n", "\n"), ""
    assert code == 2, (out, err)
    assert err == ""
    assert out.splitlines() == [
        "No hay pantalla disponible: escriba la ruta de cada imagen en la terminal.",
        "Ruta de la imagen o de la carpeta (Intro sin nada para ninguna): ",  # the prompt's line ends...
        "Error: No se pudo descargar el modelo «x»: el servidor no responde.",  # ...the error has its own
    ]


def test_a_loader_that_cannot_write_still_reports_the_failure(monkeypatch):
    from classifier.base.errors import OutputFailed

    crashes = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)

    def say(message):
        raise OutputFailed("pudo escribir en la terminal", OSError(28, "No space left on device"))

    loader = BackgroundLoader(lambda: (_ for _ in ()).throw(ModelLoadError("Los pesos están dañados.")), say).start()
    assert loader.failed_event.wait(10)  # an open picker closes
    loader._thread.join(10)
    assert crashes == []  # no traceback from the thread
    assert str(loader.failure) == "Los pesos están dañados."
    ui = FakeUI([str(PHOTOS[0])])
    with pytest.raises(OutputFailed):  # the main thread meets the unwritable terminal: the command line's status
        desktop_loop(ui, loader, 7, say, Script([]).ask)


def test_the_window_shows_the_first_result_while_the_rest_classify(tiny_classifier, monkeypatch):
    from classifier.engine import classifying as engine

    gate = threading.Event()
    original = engine.Engine._load

    def load(self, path, one_big_at_a_time=False):
        if path != str(PHOTOS[0]):
            assert gate.wait(10), "the window never opened"
        return original(self, path, one_big_at_a_time)

    monkeypatch.setattr(engine.Engine, "_load", load)
    picks = [str(photo) for photo in PHOTOS[:3]]
    seen_at_show = {}

    class WatchingUI(FakeUI):
        def show(self, results, stream=None):
            seen_at_show.update(pages=len(results), done=stream.done, lines=len(script.lines))
            gate.set()
            return super().show(results, stream)

    ui, script = WatchingUI([picks]), Script(["n"])
    assert desktop_loop(ui, _ready_loader(tiny_classifier, script.say), 7, script.say, script.ask) == 0
    assert seen_at_show == {"pages": 1, "done": False, "lines": 1}  # one result printed, the window open
    [window] = ui.windows
    assert [result.path for result in window] == picks
    assert [line.splitlines()[0] for line in script.lines if "\n" in line] == picks  # the terminal in order


@pytest.mark.parametrize("shape", [(4000, 3000), (3000, 4000), (4000, 500)])
def test_long_class_names_take_two_lines_before_they_are_cut_at_1024x600(tiny_classifier, shape):
    import csv

    from classifier.gui.result_window import window_box

    with open(REPO / "classifier" / "base" / "data" / "imagenet_es.tsv", encoding="utf-8") as table:
        names = sorted((row["spanish"] for row in csv.DictReader(table, delimiter="\t")), key=len)
    image = Image.new("RGB", shape, (90, 120, 40))
    [(predictions, heatmap)] = tiny_classifier.classify_with_maps([image], 7)
    # The five longest Spanish names, and the two the issue saw cut.
    longest = names[-5:] + ["birrete de graduación", "vestiduras litúrgicas"]
    predictions = [p._replace(label=label) for p, label in zip(predictions, longest, strict=True)]
    figure, _ = _render(image, predictions, heatmap, window_box(1024, 600))
    bars = figure.axes[-1]
    shown = [label.get_text() for label in bars.get_yticklabels()]
    assert [text.replace("\n", " ") for text in shown] == longest  # whole, on one or two lines
    renderer = figure.canvas.get_renderer()
    boxes = [label.get_window_extent(renderer) for label in bars.get_yticklabels()]
    width, _ = figure.canvas.get_width_height()
    for one, other in itertools.pairwise(boxes):
        assert one.y0 >= other.y1 - 1  # rank 1 on top: no two names run into each other
    assert all(box.x0 >= 0 and box.x1 <= width for box in boxes)
