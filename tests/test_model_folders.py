"""A model folder is hostile until checked: its processor settings, its scores, its custom code.

Every broken folder ends in one Spanish sentence with status 2, in the batch and in the
terminal session alike, before the first real picture; no code that came with it runs.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from classifier.app.cli import main
from conftest import PHOTOS, REPO, reliability, without_screen

TRIED = reliability.setdefault("modelos", set())


def _edit(folder, name, change):
    path = folder / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _processor(change):
    return lambda folder: _edit(folder, "preprocessor_config.json", change)


def _run(capsys, model, *args):
    capsys.readouterr()
    code = main(["--model", str(model), *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_broken(code, out, err, phrase="está roto"):
    assert code == 2 and out == "", (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and lines[0].endswith("."), err
    assert phrase in lines[0], lines[0]
    assert "Traceback" not in err


# --- 1. code that comes with a model -----------------------------------------------------------


def _remote_processor(folder, marker):
    (folder / "image_processing_trap.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('remote code ran')\n"
        "from transformers import ViTImageProcessor as TrapProcessor\n")
    _edit(folder, "preprocessor_config.json", lambda c: c.update(
        image_processor_type="TrapProcessor", auto_map={"AutoImageProcessor": "image_processing_trap.TrapProcessor"}))


def test_a_processor_that_names_its_own_code_is_refused_before_anything_is_asked(tiny_model_copy, tmp_path):
    marker = tmp_path / "pwned-by-processor-code"
    _remote_processor(tiny_model_copy, marker)
    # A real process with "y" waiting on stdin: transformers' question would read it and run the file.
    done = subprocess.run([sys.executable, "script_modelo.py", "--modelo", str(tiny_model_copy), "--formato", "json",
                           str(PHOTOS[0])], cwd=REPO, input="y\n", capture_output=True, text=True, timeout=120)
    assert not marker.exists()
    assert done.returncode == 2 and done.stdout == "", done
    assert done.stderr.startswith("Error: ") and "nunca ejecuta código que venga con un modelo" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    TRIED.add("preprocesador con código propio (auto_map)")


def test_a_config_with_auto_map_is_refused_even_when_its_type_is_known(capsys, tiny_model_copy):
    _edit(tiny_model_copy, "config.json", lambda c: c.update(
        auto_map={"AutoModelForImageClassification": "modeling_trap.TrapModel"}))
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]), "nunca ejecuta código que venga con un modelo")
    TRIED.add("config.json de tipo conocido con auto_map")


# --- 2. processor settings that break at first use ----------------------------------------------

BROKEN_PROCESSORS = {
    "tamaño distinto del del modelo": lambda c: c.update(size={"height": 40, "width": 40}),
    "tamaño negativo": lambda c: c.update(size={"height": -32, "width": 48}),
    "tamaño cero": lambda c: c.update(size={"height": 0, "width": 48}),
    "resample desconocido": lambda c: c.update(resample=99),
    "media de cuatro valores": lambda c: c.update(image_mean=[0.5, 0.5, 0.5, 0.5]),
    "media que no es un número": lambda c: c.update(image_mean=["a", "b", "c"]),
    "rescale_factor que no es un número": lambda c: c.update(rescale_factor="mucho"),
    "altura fraccionaria": lambda c: c.update(size={"height": 32.5, "width": 48}),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PROCESSORS))
def test_processor_settings_that_break_at_first_use(capsys, tiny_model_copy, case):
    _processor(BROKEN_PROCESSORS[case])(tiny_model_copy)
    code, out, err = _run(capsys, tiny_model_copy, PHOTOS[0])
    assert code == 2 and out == "" and "Traceback" not in err, err
    [line] = err.strip().splitlines()
    assert line.startswith("Error: ") and line.endswith("."), line
    assert "preprocesador" in line or "está roto" in line, line
    TRIED.add(f"preprocesador: {case}")


# --- 3. scores that are not numbers --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "texto"])
def test_a_std_of_zeros_is_a_broken_model_not_nan_scores(capsys, tiny_model_copy, fmt):
    _processor(lambda c: c.update(image_std=[0.0, 0.0, 0.0]))(tiny_model_copy)
    code, out, err = _run(capsys, tiny_model_copy, "--formato", fmt, PHOTOS[0])
    _assert_broken(code, out, err)
    assert "NaN" not in err and "nan" not in err
    TRIED.add("image_std de ceros (puntuaciones NaN)")


def test_json_never_holds_nan():
    from classifier.output import json_line

    with pytest.raises(ValueError):
        json_line({"path": "a.png", "predictions": [{"id": 0, "label": "x", "score": float("nan")}]})


# --- 4. a processor that fits the picture into a box, then crops ------------------------------


def _max_box_with_crop(config):
    config.update(image_processor_type="ViTImageProcessor", size={"max_height": 64, "max_width": 64},
                  do_center_crop=True, crop_size={"height": 32, "width": 48})


def test_a_max_size_processor_with_a_crop_draws_its_maps(tiny_model_copy, tmp_path, capsys):
    _processor(_max_box_with_crop)(tiny_model_copy)
    maps = tmp_path / "mapas"
    code, out, err = _run(capsys, tiny_model_copy, "--mapa", maps, PHOTOS[0])
    assert code == 0 and err == "", err
    assert len(list(maps.glob("*_mapa.png"))) == 1


def test_seen_region_of_a_max_size_processor_is_the_centre_it_crops(tiny_model_copy):
    from classifier.model import Classifier

    _processor(_max_box_with_crop)(tiny_model_copy)
    classifier = Classifier.load(str(tiny_model_copy), device="cpu")
    picture = Image.new("RGB", (320, 160))
    # Independently: 320 x 160 fits a 64 x 64 box as 64 x 32 (scale 1/5); a 48 x 32 centre crop of it is
    # 240 x 160 of the original, starting at x = 40.
    assert classifier.seen_region(picture).size == (240, 160)


def test_the_terminal_session_works_with_a_max_size_processor(tiny_model_copy, tmp_path):
    _processor(_max_box_with_crop)(tiny_model_copy)
    done = subprocess.run([sys.executable, "script_modelo.py", "--modelo", str(tiny_model_copy)], cwd=REPO,
                          input=f"{PHOTOS[0]}\nn\n", capture_output=True, text=True, timeout=120,
                          env=without_screen())
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.rstrip().endswith("¡Hasta luego!")


# --- 5. the «too elongated» sentence -------------------------------------------------------------


def test_the_elongated_sentence_keeps_its_own_comma(capsys, tiny_model_copy, tmp_path):
    _processor(lambda c: c.update(image_processor_type="ViTImageProcessor", size={"shortest_edge": 32},
                                  do_center_crop=True, crop_size={"height": 32, "width": 48}))(tiny_model_copy)
    strip = tmp_path / "tira.png"
    Image.new("RGB", (100_000, 1)).save(strip)
    code, out, err = _run(capsys, tiny_model_copy, strip)
    assert code == 1
    assert "para este modelo, que la ampliaría hasta 3.200.000 × 32 píxeles" in err, err


def test_a_huge_shortest_edge_is_a_broken_model_not_a_blamed_photo(capsys, tiny_model_copy):
    _processor(lambda c: c.update(image_processor_type="ViTImageProcessor", size={"shortest_edge": 50_000},
                                  do_center_crop=True, crop_size={"height": 32, "width": 48}))(tiny_model_copy)
    code, out, err = _run(capsys, tiny_model_copy, PHOTOS[0])
    _assert_broken(code, out, err)
    assert "alargada" not in err
    TRIED.add("preprocesador que amplía cualquier foto a gigapíxeles")


# --- one validation at load, in both modes -------------------------------------------------------


def _terminal_session(model, typed):
    """The terminal mode (no screen) on model with typed as its input; (the run, its «Error:» lines)."""
    done = subprocess.run([sys.executable, "script_modelo.py", "--modelo", str(model)], cwd=REPO, input=typed,
                          capture_output=True, text=True, timeout=120, env=without_screen())
    return done, [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error: ")]


def test_the_terminal_session_says_the_model_is_broken_once_before_any_picture(tiny_model_copy):
    _processor(lambda c: c.update(image_std=[0.0, 0.0, 0.0]))(tiny_model_copy)
    done, errors = _terminal_session(tiny_model_copy, f"{PHOTOS[0]}\n{PHOTOS[1]}\nn\n")
    assert done.returncode == 2, done
    assert len(errors) == 1 and "está roto" in errors[0], done
    assert "Traceback" not in done.stderr and "nan" not in done.stdout.lower()


def test_scores_that_are_not_numbers_for_one_picture_are_its_error(tiny_model_dir):
    import torch

    from classifier.engine.classifying import Engine
    from classifier.model import Classifier

    classifier = Classifier.load(str(tiny_model_dir), device="cpu", pack=False)
    with torch.no_grad():
        classifier.model.classifier.bias[3] = float("nan")  # broken after the load's probe passed
    result = Engine(classifier, 5).classify(str(PHOTOS[0]))
    assert result.predictions is None
    assert result.error == (f"No se puede clasificar «{PHOTOS[0]}»: el modelo dio puntuaciones que no son números "
                            "con esta imagen.")


@pytest.mark.parametrize(("case", "settings"), [
    ("tamaño fijo de 100000 × 100000", {"size": {"height": 100_000, "width": 100_000}}),
    ("recorte de 100000 × 100000", {"do_center_crop": True, "crop_size": {"height": 100_000, "width": 100_000}}),
])
def test_a_size_no_memory_holds_is_a_broken_model_at_once(capsys, tiny_model_copy, case, settings):
    _processor(lambda c: c.update(image_processor_type="ViTImageProcessor", **settings))(tiny_model_copy)
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]))
    TRIED.add(f"preprocesador: {case}")


# --- 6. a config.json that describes another network than its weights -------------------------


def _stored_keys(folder):
    """The tensor names model.safetensors holds, as the safetensors library reads them."""
    from safetensors import safe_open

    with safe_open(folder / "model.safetensors", "pt") as weights:
        return list(weights.keys())


@pytest.mark.parametrize("layers", [20_000, 1_000_000])
def test_a_config_asking_for_a_huge_network_is_refused_before_it_is_built(capsys, tiny_model_copy, layers):
    # The weights hold 2 layers. Built in full before the weights were compared, 20,000 layers took
    # 59 s and 2.1 GB; 1,000,000 ran out of memory with no sentence.
    stored = len(_stored_keys(tiny_model_copy))
    _edit(tiny_model_copy, "config.json", lambda c: c.update(num_hidden_layers=layers))
    code, out, err = _run(capsys, tiny_model_copy, PHOTOS[0])
    _assert_broken(code, out, err, "su config.json describe una red de más de")
    assert f"y sus pesos solo guardan {stored}." in err, err
    TRIED.add("config.json con num_hidden_layers = " + format(layers, ",").replace(",", " "))


@pytest.mark.parametrize(("case", "change"), [
    ("una capa más que los pesos", {"num_hidden_layers": 3}),
    # 100,000 x 100,000 floats are 40 GB: allocated for the mismatched tensors if the network were built first.
    ("hidden_size de 100 000", {"hidden_size": 100_000}),
])
def test_a_config_whose_network_the_weights_cannot_fill_is_refused_before_the_load(capsys, tiny_model_copy, case,
                                                                                 change):
    _edit(tiny_model_copy, "config.json", lambda c: c.update(change))
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]), "no están en ellos con su forma")
    TRIED.add(f"config.json: {case}")


def _extra_tensor(folder):
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    weights["vit.encoder.layer.0.output.extra.weight"] = weights["vit.encoder.layer.0.output.dense.weight"].clone()
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


EXTRA_WEIGHTS = {  # case: (breaker, which stored tensors the network has no place for)
    "num_hidden_layers menor que las capas guardadas": (
        lambda f: _edit(f, "config.json", lambda c: c.update(num_hidden_layers=1)), ".layer.1."),
    "num_hidden_layers = -1": (lambda f: _edit(f, "config.json", lambda c: c.update(num_hidden_layers=-1)), ".layer."),
    "un tensor de más en los pesos": (_extra_tensor, ".extra."),
}


@pytest.mark.parametrize("case", sorted(EXTRA_WEIGHTS))
def test_weights_the_network_has_no_place_for_are_a_broken_model(capsys, tiny_model_copy, case):
    # transformers drops them and loads the rest: the model answered as another network, with status 0.
    breaker, marker = EXTRA_WEIGHTS[case]
    breaker(tiny_model_copy)
    extra = sum(marker in key for key in _stored_keys(tiny_model_copy))
    code, out, err = _run(capsys, tiny_model_copy, PHOTOS[0])
    _assert_broken(code, out, err, f"sus pesos no corresponden a su config.json (traen {extra} tensores que la red")
    TRIED.add(f"pesos de más: {case}")


def test_buffers_older_checkpoints_stored_still_load(capsys, tmp_path):
    # Swin V2 once saved its relative-position tables; transformers now computes them (non-persistent
    # buffers) and reports the stored ones as unexpected. They change nothing: the model loads.
    from safetensors.torch import load_file, save_file
    from transformers import Swinv2Config, Swinv2ForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    config = Swinv2Config(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4,
                          id2label={0: "gato", 1: "perro"}, label2id={"gato": 0, "perro": 1})
    network = Swinv2ForImageClassification(config)
    network.save_pretrained(tmp_path)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    stored = network.state_dict()
    weights = load_file(tmp_path / "model.safetensors")
    computed = {key: buffer.contiguous() for key, buffer in network.named_buffers() if key not in stored}
    assert computed
    save_file({**weights, **computed}, tmp_path / "model.safetensors", metadata={"format": "pt"})
    code, out, err = _run(capsys, tmp_path, PHOTOS[0])
    assert code == 0 and err == "", err


def test_the_terminal_session_refuses_a_huge_config_once(tiny_model_copy):
    _edit(tiny_model_copy, "config.json", lambda c: c.update(num_hidden_layers=1_000_000))
    done, errors = _terminal_session(tiny_model_copy, f"{PHOTOS[0]}\nn\n")
    assert done.returncode == 2, done
    assert len(errors) == 1 and "su config.json describe una red de más de" in errors[0], done
    assert "Traceback" not in done.stderr


# --- 7. class names that are not text --------------------------------------------------------------


@pytest.mark.parametrize(("case", "name"), [
    ("null", None), ("una lista", [1, 2]), ("un objeto", {"a": 1}), ("un decimal", 2.5), ("un booleano", True),
    ("un texto vacío", ""), ("solo espacios", "   "),
])
def test_a_class_name_that_is_not_text_is_refused(capsys, tiny_model_copy, case, name):
    # Shown as Python writes it («None», «[1, 2]», «True»), with status 0. Whole numbers stay names
    # (a digit model's classes): test_runs.py shows them.
    _edit(tiny_model_copy, "config.json", lambda c: c["id2label"].update({"3": name}))
    code, out, err = _run(capsys, tiny_model_copy, PHOTOS[0])
    _assert_broken(code, out, err, "no da un nombre a cada una de sus clases")
    # An empty name is a text: the sentence says what is wrong with it.
    assert f"clase 3 {'está vacío' if isinstance(name, str) else 'no lo es'}" in err, err
    TRIED.add(f"id2label con un nombre que es {case}")


@pytest.mark.parametrize(("case", "labels"), [
    ("una clave que no es un número", lambda n: {**{str(i): f"c{i}" for i in range(n - 1)}, "tres": "c"}),
    ("una clave decimal", lambda n: {**{str(i): f"c{i}" for i in range(n - 1)}, "1.5": "c"}),
    ("una lista", lambda n: [f"c{i}" for i in range(n)]),
])
def test_class_numbers_that_are_not_numbers_are_refused_with_the_same_sentence(capsys, tiny_model_copy, case, labels):
    _edit(tiny_model_copy, "config.json", lambda c: c.update(id2label=labels(len(c["id2label"]))))
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]), "no da un nombre a cada una de sus clases")
    TRIED.add(f"id2label con {case}")


# --- 8. a settings or weights file that is not a plain file --------------------------------------


def _special(path, kind):
    path.unlink()
    if kind == "tubería (FIFO)":
        os.mkfifo(path)
    elif kind == "carpeta":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not os.path.exists("/dev/zero"), reason="POSIX special files")
@pytest.mark.parametrize("kind", ["tubería (FIFO)", "carpeta", "dispositivo"])
@pytest.mark.parametrize("file_name", ["config.json", "preprocessor_config.json", "model.safetensors"])
def test_a_model_file_that_is_no_plain_file_is_named_for_what_it_is(capsys, tiny_model_copy, file_name, kind):
    # config.json was «falta config.json»; a pipe must never block the load, nor /dev/zero be read.
    _special(tiny_model_copy / file_name, kind)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=_run(capsys, tiny_model_copy, PHOTOS[0])),
                              daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert "result" in outcome, "the load blocked"
    article = "una" if kind != "dispositivo" else "un"
    _assert_broken(*outcome["result"], f"su {file_name} no es un archivo normal, sino {article} {kind}")
    TRIED.add(f"{file_name} que es {article} {kind}")


# --- 9. files the user may not read ----------------------------------------------------------------


_WITHOUT_ROOT_POWERS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                        "--inh-caps=-dac_override,-dac_read_search"]
_RUN_EACH = """
import contextlib, io, json, sys
from classifier.app.cli import main
answers = []
for folder in sys.argv[2:]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--modelo", folder, sys.argv[1]])
    answers.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(answers))
"""


def _run_unprivileged(folders):
    """[code, stdout, stderr] of the batch on each folder, run by a user whom permissions bind.

    Root reads any file: as root the run drops the two capabilities that let it (setpriv), and
    stays the owner of pytest's root-only temporary folders.
    """
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root ignores file permissions, and setpriv is not here to drop that power")
        prefix = _WITHOUT_ROOT_POWERS
    done = subprocess.run([*prefix, sys.executable, "-c", _RUN_EACH, str(PHOTOS[0]), *map(str, folders)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done
    return json.loads(done.stdout)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_model_files_the_user_may_not_read_are_said_so(tiny_model_dir, tmp_path):
    # They were «dañado», «no trae un preprocesador válido», and a folder that cannot be opened «falta
    # config.json» or «dañado»; a picture the user may not read already said «no hay permiso».
    cases = {"config.json": "No hay permiso para leer el archivo config.json del modelo",
             "model.safetensors": "No hay permiso para leer el archivo model.safetensors del modelo",
             "preprocessor_config.json": "No hay permiso para leer el archivo preprocessor_config.json del modelo",
             None: "No hay permiso para abrir la carpeta del modelo"}
    folders = []
    for file_name in cases:
        folder = Path(shutil.copytree(tiny_model_dir, tmp_path / f"m-{file_name or 'carpeta'}"))
        (folder / file_name if file_name else folder).chmod(0)
        folders.append(folder)
    try:
        answers = _run_unprivileged(folders)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    for (file_name, start), folder, (code, out, err) in zip(cases.items(), folders, answers, strict=True):
        assert (code, out, err) == (2, "", f"Error: {start} «{folder}».\n"), file_name
        TRIED.add(f"{file_name or 'la carpeta del modelo'} sin permiso de lectura")


# --- 10. every settings file transformers reads, and how it is written ------------------------------


def _sparse(path, size, start=b'{"image_processor": {"x": "'):
    with open(path, "wb") as file:
        file.write(start)
        file.truncate(size)


@pytest.mark.parametrize("beside", ["sin preprocessor_config.json", "junto a preprocessor_config.json"])
def test_a_huge_processor_config_is_refused_unread_and_named(capsys, tiny_model_copy, beside):
    # transformers reads processor_config.json whole, even beside preprocessor_config.json: 1.5 GB (sparse, no
    # disk used) took 16 s and 4.9 GB, then blamed preprocessor_config.json. 100 MB here.
    if beside.startswith("sin"):
        (tiny_model_copy / "preprocessor_config.json").unlink()
    _sparse(tiny_model_copy / "processor_config.json", 100 * 1024 * 1024)
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]), "su processor_config.json mide más de 16 MB")
    TRIED.add(f"processor_config.json de 100 MB {beside}")


def test_a_huge_weights_index_is_refused_unread(capsys, tiny_model_copy):
    (tiny_model_copy / "model.safetensors").rename(tiny_model_copy / "model-00001-of-00001.safetensors")
    _sparse(tiny_model_copy / "model.safetensors.index.json", 100 * 1024 * 1024, b'{"weight_map": {"x": "')
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]), "su model.safetensors.index.json mide más de 16 MB")
    TRIED.add("model.safetensors.index.json de 100 MB")



@pytest.mark.parametrize("link", ["a sí mismo", "a nada"])
def test_a_weights_index_that_is_a_broken_link_is_damaged_weights(capsys, tiny_model_copy, link):
    # Opening it fails with ELOOP or ENOENT (not a permission): a traceback came out of the load before.
    (tiny_model_copy / "model.safetensors").rename(tiny_model_copy / "model-00001-of-00001.safetensors")
    index = tiny_model_copy / "model.safetensors.index.json"
    index.symlink_to(index.name if link == "a sí mismo" else "no-existe.json")
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]), "están dañados, incompletos o no corresponden")
    TRIED.add(f"model.safetensors.index.json enlazado {link}")

def _nested_processor(folder, change=None):
    settings = json.loads((folder / "preprocessor_config.json").read_text())
    (change or (lambda s: None))(settings)
    (folder / "preprocessor_config.json").unlink()
    (folder / "processor_config.json").write_text(json.dumps({"image_processor": settings}))


def test_a_processor_saved_in_processor_config_loads_and_is_named_when_broken(capsys, tiny_model_dir, tmp_path):
    # Newer processors save their image processor inside processor_config.json: that file is the one
    # transformers takes, and the one a refusal names.
    good = Path(shutil.copytree(tiny_model_dir, tmp_path / "bueno"))
    _nested_processor(good)
    code, out, err = _run(capsys, good, PHOTOS[0])
    reference = _run(capsys, tiny_model_dir, PHOTOS[0])
    assert (code, out, err) == reference and code == 0
    broken = Path(shutil.copytree(tiny_model_dir, tmp_path / "roto"))
    _nested_processor(broken, lambda s: s.update(image_processor_type="NoSuchImageProcessor"))
    _assert_broken(*_run(capsys, broken, PHOTOS[0]), "(processor_config.json)")


def test_code_named_in_processor_config_is_refused(capsys, tiny_model_copy):
    _nested_processor(tiny_model_copy, lambda s: s.update(auto_map={"AutoImageProcessor": "trap.TrapProcessor"}))
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]), "auto_map en processor_config.json")
    TRIED.add("processor_config.json con auto_map")


@pytest.mark.parametrize("file_name", ["config.json", "preprocessor_config.json"])
def test_a_settings_file_saved_with_a_byte_order_mark_says_how_to_save_it(capsys, tiny_model_copy, file_name):
    # Windows Notepad's «UTF-8» starts with EF BB BF; transformers' JSON reading stops there, and the model
    # was «dañado» or without «un preprocesador válido».
    path = tiny_model_copy / file_name
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]),
                   f"su {file_name} empieza con la marca BOM que añaden algunos editores de Windows; guárdelo como "
                   "UTF-8 sin BOM")
    TRIED.add(f"{file_name} con BOM")


# --- 11. weights that are not decimals, and block counts past the weights ---------------------------


@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_whole_number_or_boolean_weights_are_a_broken_model(capsys, tiny_model_copy, dtype):
    # transformers turned them into decimals without a word: status 0, answers of no trained model.
    import torch
    from safetensors.torch import load_file, save_file

    weights = load_file(tiny_model_copy / "model.safetensors")
    key = "vit.encoder.layer.0.output.dense.weight"
    weights[key] = (weights[key] * 100).to(getattr(torch, dtype))
    save_file(weights, tiny_model_copy / "model.safetensors", metadata={"format": "pt"})
    shape = " × ".join(map(str, weights[key].shape))
    _assert_broken(*_run(capsys, tiny_model_copy, PHOTOS[0]),
                   f"sus pesos guardan números enteros o booleanos donde la red lleva números decimales (como en un "
                   f"tensor de {shape})")
    TRIED.add(f"pesos {dtype}")


def test_a_block_count_past_the_weights_is_refused_before_anything_is_built(capsys, tmp_path):
    # ConvNeXt computes its drop-path rates for every block before it builds one: depths of 30 million
    # took 5 s and 1.3 GB before the refusal (100 million: 16 s, 4.4 GB).
    from transformers import ConvNextConfig, ConvNextForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    config = ConvNextConfig(num_channels=3, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, image_size=32,
                            id2label={0: "gato", 1: "perro"}, label2id={"gato": 0, "perro": 1})
    ConvNextForImageClassification(config).save_pretrained(tmp_path)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    assert _run(capsys, tmp_path, PHOTOS[0])[0] == 0
    _edit(tmp_path, "config.json", lambda c: c.update(depths=[30_000_000, 1]))
    _assert_broken(*_run(capsys, tmp_path, PHOTOS[0]), "(depths pide 30.000.001 capas o bloques), y sus pesos")
    TRIED.add("config.json de ConvNeXt con depths de 30 millones")


def test_whole_number_buffers_load_whether_stored_whole_or_decimal(capsys, tmp_path):
    # BatchNorm's num_batches_tracked is a whole number in the network: stored as one (as save_pretrained
    # does) or as a decimal (some converters), the model loads as before; only decimal weights must be decimals.
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import ResNetConfig, ResNetForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                          id2label={0: "gato", 1: "perro"}, label2id={"gato": 0, "perro": 1})
    ResNetForImageClassification(config).save_pretrained(tmp_path)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(tmp_path)
    reference = _run(capsys, tmp_path, PHOTOS[0])
    assert reference[0] == 0, reference
    weights = load_file(tmp_path / "model.safetensors")
    counters = [key for key in weights if key.endswith("num_batches_tracked")]
    assert counters and all(weights[key].dtype == torch.int64 for key in counters)
    save_file({key: value.float() if key in counters else value for key, value in weights.items()},
              tmp_path / "model.safetensors", metadata={"format": "pt"})
    assert _run(capsys, tmp_path, PHOTOS[0]) == reference
    # Left out (converters from other frameworks drop them): a counter of training steps, no part of inference.
    save_file({key: value for key, value in weights.items() if key not in counters},
              tmp_path / "model.safetensors", metadata={"format": "pt"})
    assert _run(capsys, tmp_path, PHOTOS[0]) == reference


def test_a_config_with_return_dict_false_classifies_as_the_pipeline_does_with_it_true(capsys, tiny_model_copy,
                                                                                     reference, tmp_path):
    # return_dict only chooses tuples or named outputs: the same weights must give the same answers and maps.
    _edit(tiny_model_copy, "config.json", lambda config: config.update(return_dict=False))
    code, out, err = _run(capsys, tiny_model_copy, "-f", "json", "-k", "5", "--mapa", tmp_path / "mapas", *PHOTOS)
    assert (code, err) == (0, "")
    for line, photo in zip(out.splitlines(), PHOTOS, strict=True):
        record = json.loads(line)
        expected = reference(str(photo), top_k=5)
        assert [p["label"] for p in record["predictions"]] == [e["label"] for e in expected]
        assert [p["score"] for p in record["predictions"]] == pytest.approx([e["score"] for e in expected], abs=1e-5)
        assert Image.open(record["map"]).format == "PNG"
