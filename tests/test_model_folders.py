"""A model folder is hostile until checked: its processor settings, its scores, its custom code.

Every broken folder ends in one Spanish sentence with status 2, in the batch and in the
terminal session alike, before the first real picture; no code that came with it runs.
"""

import json
import subprocess
import sys

import pytest
from PIL import Image

from classifier.cli import main
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


def test_the_terminal_session_says_the_model_is_broken_once_before_any_picture(tiny_model_copy):
    _processor(lambda c: c.update(image_std=[0.0, 0.0, 0.0]))(tiny_model_copy)
    done = subprocess.run([sys.executable, "script_modelo.py", "--modelo", str(tiny_model_copy)], cwd=REPO,
                          input=f"{PHOTOS[0]}\n{PHOTOS[1]}\nn\n", capture_output=True, text=True, timeout=120,
                          env=without_screen())
    assert done.returncode == 2, done
    errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "está roto" in errors[0], done
    assert "Traceback" not in done.stderr and "nan" not in done.stdout.lower()


def test_scores_that_are_not_numbers_for_one_picture_are_its_error(tiny_model_dir):
    import torch

    from classifier.engine import Engine
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
