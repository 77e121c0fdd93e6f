"""--aprender: a new head taught on a folder per class, checked against references.

Quality: scikit-learn's LogisticRegression on the same base's pooled features, computed here with
transformers directly, on real handwritten digits that scikit-learn ships (load_digits). Interop:
the transformers pipeline on the new folder. Bad input: the sentence, status 2, nothing written.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classifier.app.cli import main

COLOURS = {"rojo": (200, 40, 40), "verde": (40, 190, 40), "azul añil": (40, 40, 200)}


def colour_photos(folder, per_class=8, seed=0, classes=COLOURS):
    """Noisy pictures of one colour per class, one subfolder each."""
    rng = np.random.default_rng(seed)
    for name, colour in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            pixels = np.clip(rng.normal(colour, 60, size=(40, 60, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(folder / name / f"{index:02d}.png")
    return folder


def tree(root):
    """Every path under root with its size and content hash: what «nothing written» compares."""
    import hashlib

    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), root)] = "dir"
        for name in files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


@pytest.fixture()
def own_cache(tmp_path, monkeypatch):
    """A config folder (and so a representation cache) of this test alone, inside tmp_path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


def teach(photos, destination, base, *more):
    return main(["--aprender", str(photos), "--nuevo-modelo", str(destination), "--modelo", str(base), *more])


# --- quality -------------------------------------------------------------------------------------------

TRAIN_PER_DIGIT, TEST_PER_DIGIT = 15, 10


def digit_photos(folder):
    """scikit-learn's real handwritten digits (8x8, 17 grey levels) as 64x64 PNGs: a class folder per digit
    for teaching, and the held-out photos with their digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    held_out = []
    for digit in range(10):
        rows = np.flatnonzero(digits.target == digit)[:TRAIN_PER_DIGIT + TEST_PER_DIGIT]
        (folder / "aprender" / str(digit)).mkdir(parents=True)
        (folder / "prueba").mkdir(exist_ok=True)
        for count, row in enumerate(rows):
            grey = (255 - digits.images[row] * 255 / 16).astype("uint8")  # dark ink on white paper
            picture = Image.fromarray(grey).resize((64, 64), Image.Resampling.BICUBIC).convert("RGB")
            if count < TRAIN_PER_DIGIT:
                picture.save(folder / "aprender" / str(digit) / f"{row}.png")
            else:
                path = folder / "prueba" / f"{row}.png"
                picture.save(path)
                held_out.append((path, digit))
    return folder / "aprender", held_out


def pooled_features(model_dir, paths):
    """The input of EfficientNet's classification layer, computed with transformers alone."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    processor = AutoImageProcessor.from_pretrained(model_dir)
    model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return np.concatenate([
            model.efficientnet(**processor(images=[Image.open(p).convert("RGB") for p in paths[i:i + 25]],
                                           return_tensors="pt")).pooler_output.numpy()
            for i in range(0, len(paths), 25)])


def test_held_out_accuracy_is_scikit_learns(trained_model_dir, tmp_path, own_cache, capsys):
    from sklearn.linear_model import LogisticRegression

    teaching, held_out = digit_photos(tmp_path / "digitos")
    destination = tmp_path / "digitos-modelo"
    assert teach(teaching, destination, trained_model_dir) == 0
    report = capsys.readouterr().out
    assert "Precisión estimada (validación cruzada" in report
    test_paths = [str(path) for path, _ in held_out]
    assert main(["--modelo", str(destination), "-f", "json", "-k", "1", *test_paths]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ours = np.mean([answer["predictions"][0]["label"] == str(digit)
                    for answer, (_, digit) in zip(answers, held_out, strict=True)])

    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(destination), device="cpu")
    for path, answer in list(zip(test_paths, answers, strict=True))[:10]:  # EfficientNet too, not only ViT
        [expected] = pipe(Image.open(path).convert("RGB"), top_k=1)
        assert answer["predictions"][0]["label"] == expected["label"]
        assert abs(answer["predictions"][0]["score"] - expected["score"]) <= 1e-5

    train_paths = sorted(str(path) for path in teaching.rglob("*.png"))
    train_digits = [int(Path(path).parent.name) for path in train_paths]
    reference = LogisticRegression(max_iter=5000).fit(pooled_features(trained_model_dir, train_paths), train_digits)
    theirs = reference.score(pooled_features(trained_model_dir, test_paths), [digit for _, digit in held_out])
    print(f"held-out accuracy: ours {ours:.3f}, scikit-learn {theirs:.3f} ({len(held_out)} photos)")
    assert theirs > 0.5  # the features carry the digits: a comparison of two real classifiers
    assert abs(ours - theirs) <= 0.03


def test_the_readmes_transcript_is_what_the_program_prints(trained_model_dir, tmp_path, own_cache, capsys,
                                                          monkeypatch):
    """The README's teaching run, made again: every line but the time (the device line goes to stderr)."""
    import re
    import shlex

    from sklearn.datasets import load_digits

    from conftest import REPO

    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(\$ python script_modelo.py --aprender .*?)```", text, re.S).group(1).splitlines()
    argv = shlex.split(block[0])[3:]
    digits = load_digits()
    monkeypatch.chdir(tmp_path)
    for digit in ("4", "7"):
        Path("digitos", digit).mkdir(parents=True)
        for row in np.flatnonzero(digits.target == int(digit))[:20]:
            grey = (255 - digits.images[row] * 255 / 16).astype("uint8")
            Image.fromarray(grey).resize((64, 64), Image.Resampling.BICUBIC).convert("RGB").save(
                Path("digitos", digit, f"{row}.png"))
    swap = {"/tmp/m/effnet": str(trained_model_dir), "/tmp/m/digitos": str(tmp_path / "m" / "digitos")}
    (tmp_path / "m").mkdir()
    assert main([swap.get(arg, arg) for arg in argv]) == 0
    out = capsys.readouterr().out.replace(swap["/tmp/m/digitos"], "/tmp/m/digitos").splitlines()
    expected = [line for line in block[1:] if not line.startswith("El modelo se ejecuta en")]
    assert out[:-1] == expected[:-1]
    assert out[-1].startswith("Tiempo: ") and expected[-1].startswith("Tiempo: ")


# --- interop -----------------------------------------------------------------------------------------------

def test_pipeline_agrees_and_the_model_works_like_any(tiny_model_dir, tmp_path, own_cache, capsys):
    from transformers import pipeline

    photos = colour_photos(tmp_path / "fotos")
    destination = tmp_path / "colores"
    assert teach(photos, destination, tiny_model_dir) == 0
    capsys.readouterr()
    paths = sorted(str(path) for path in photos.rglob("*.png"))[::3]
    log = tmp_path / "registro.csv"
    maps = tmp_path / "mapas"
    status = main(["--modelo", str(destination), "-f", "json", "-k", "3", "--guardar", str(log),
                   "--mapa", str(maps), *paths])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    answers = [json.loads(line) for line in captured.out.splitlines()]
    pipe = pipeline("image-classification", model=str(destination), device="cpu")
    for path, answer in zip(paths, answers, strict=True):
        expected = pipe(Image.open(path).convert("RGB"), top_k=3)
        assert [p["label"] for p in answer["predictions"]] == [e["label"] for e in expected]
        assert np.allclose([p["score"] for p in answer["predictions"]], [e["score"] for e in expected],
                           atol=1e-5, rtol=0)
    assert [answer["predictions"][0]["label"] for answer in answers] == [Path(path).parent.name for path in paths]
    config = json.loads((destination / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "azul añil", "1": "rojo", "2": "verde"}
    assert (destination / "model.safetensors").is_file()
    assert len(list(maps.glob("*_mapa.png"))) == len(paths)
    assert len(log.read_text(encoding="utf-8").splitlines()) == len(paths) + 1  # a header and a row per photo


def test_names_are_nfc(tiny_model_dir, tmp_path, own_cache, capsys):
    decomposed = "an\u0303il"  # «añil» as macOS spells file names: n + combining tilde
    photos = colour_photos(tmp_path / "fotos", per_class=5,
                           classes={decomposed: (40, 40, 200), "rojo": (200, 40, 40)})
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert config["label2id"] == {"añil": 0, "rojo": 1}


# --- the cache and interruptions ----------------------------------------------------------------------

def test_a_second_teaching_reads_only_the_new_photo(tiny_model_dir, tmp_path, own_cache, capsys):
    photos = colour_photos(tmp_path / "fotos")
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    assert "Fotos leídas con el modelo: 24." in capsys.readouterr().out
    Image.new("RGB", (50, 40), (250, 10, 10)).save(photos / "rojo" / "nueva.png")
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0  # the folder it wrote: replaced
    out = capsys.readouterr().out
    assert "Fotos leídas con el modelo: 1; de la caché (ya leídas antes): 24." in out
    assert "rojo       9 fotos" in out


def test_ctrl_c_then_a_rerun_completes(tiny_model_dir, tmp_path, own_cache, capsys, monkeypatch):
    from classifier.teaching import cache

    photos = colour_photos(tmp_path / "fotos")
    real_put, written = cache.FeatureCache.put, []

    def put_then_ctrl_c(self, photo_hash, row):
        if len(written) == 10:
            raise KeyboardInterrupt
        written.append(photo_hash)
        real_put(self, photo_hash, row)

    monkeypatch.setattr(cache.FeatureCache, "put", put_then_ctrl_c)
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 130
    assert "Interrumpido." in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["config", "fotos"]  # no model, no temporary folder
    monkeypatch.setattr(cache.FeatureCache, "put", real_put)
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    assert "Fotos leídas con el modelo: 14; de la caché (ya leídas antes): 10." in capsys.readouterr().out
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_a_real_ctrl_c_while_reading_then_a_rerun(tiny_model_dir, tmp_path, own_cache, capsys):
    """The signal itself, in a real process: status 130, no model and no temporary folder, rows kept."""
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    photos = colour_photos(tmp_path / "fotos", per_class=60)
    process = subprocess.Popen([sys.executable, str(REPO / "script_modelo.py"), "--aprender", str(photos),
                                "--nuevo-modelo", str(tmp_path / "m"), "--modelo", str(tiny_model_dir)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "XDG_CONFIG_HOME": str(own_cache)})
    deadline = time.monotonic() + 120
    while len(list(own_cache.rglob("*.npy"))) < 5 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.rstrip().endswith("Interrumpido.") and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["config", "fotos"]
    kept = len(list(own_cache.rglob("*.npy")))
    assert 5 <= kept < 180
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    out = capsys.readouterr().out
    assert f"Fotos leídas con el modelo: {180 - kept}; de la caché (ya leídas antes): {kept}." in out


# --- what the user reads ---------------------------------------------------------------------------------

def test_report_and_warnings(tiny_model_dir, tmp_path, own_cache, capsys):
    photos = colour_photos(tmp_path / "fotos", per_class=16, classes={"rojo": (200, 40, 40)})
    colour_photos(tmp_path / "fotos", per_class=3, classes={"verde": (40, 190, 40)}, seed=1)
    (photos / "rojo" / "00.png").rename(photos / "rojo" / "igual.png")
    (photos / "verde" / "copia.png").write_bytes((photos / "rojo" / "igual.png").read_bytes())
    (photos / "verde" / "nota.png").write_bytes(b"%PDF-1.4 no es una imagen")
    colour_photos(photos / "rojo", per_class=2, classes={"viejas": (1, 2, 3)})
    (photos / "suelta.png").write_bytes((photos / "rojo" / "01.png").read_bytes())
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    captured = capsys.readouterr()
    assert "Clases encontradas: 2.\n  rojo   16 fotos\n  verde  5 fotos\n" in captured.out
    assert "Se omite «" in captured.err and "nota.png" in captured.err
    assert "Aviso: la clase «verde» tiene solo 4 fotos" in captured.err
    assert "Aviso: las clases están desequilibradas: «rojo» tiene 16 fotos y «verde» 4 fotos" in captured.err
    assert "Aviso: la misma foto está en «rojo»" in captured.err
    assert "Aviso: se omite 1 foto suelta en «" in captured.err
    assert "Aviso: se omiten las fotos de «" in captured.err and "viejas» (y de cualquier otra" in captured.err
    assert "Tiempo: " in captured.out


def test_a_progress_bar_on_a_terminal_leaves_stdout_clean(tiny_model_dir, tmp_path, own_cache, capsys,
                                                          monkeypatch):
    import sys

    photos = colour_photos(tmp_path / "fotos", per_class=5)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    captured = capsys.readouterr()
    assert "Leyendo las fotos" in captured.err and "/15 [" in captured.err
    assert "Leyendo" not in captured.out and "Writing" not in captured.err + captured.out


def test_low_accuracy_says_add_varied_photos(tiny_model_dir, tmp_path, own_cache, capsys):
    # Two classes of the same pictures: no head can tell them apart.
    photos = colour_photos(tmp_path / "fotos", per_class=10, classes={"uno": (120, 120, 120)}, seed=3)
    colour_photos(tmp_path / "fotos", per_class=10, classes={"dos": (120, 120, 120)}, seed=4)
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    assert "Aviso: la precisión es baja: añada fotos más variadas de" in capsys.readouterr().err


# --- bad input: a sentence, status 2, nothing written ------------------------------------------------

def _one_class(root):
    return colour_photos(root / "fotos", classes={"rojo": (200, 40, 40)})


def _empty_class(root):
    photos = colour_photos(root / "fotos")
    (photos / "vacía").mkdir()
    return photos


def _deeper(root):
    photos = colour_photos(root / "fotos")
    colour_photos(photos / "gatos" / "2024", classes={"x": (1, 2, 3)}, per_class=2)
    return photos


def _not_ours(root):
    photos = colour_photos(root / "fotos")
    (root / "m").mkdir()
    (root / "m" / "tesis.txt").write_text("mi trabajo", encoding="utf-8")
    return photos


def _destination_file(root):
    photos = colour_photos(root / "fotos")
    (root / "m").write_text("un archivo", encoding="utf-8")
    return photos


def _unprintable(root):
    photos = colour_photos(root / "fotos")
    (photos / "rojo").rename(photos / "ro\njo")
    return photos


def _blank(root):
    photos = colour_photos(root / "fotos")
    (photos / "rojo").rename(photos / "   ")
    return photos


def _unreadable_class(root):
    photos = colour_photos(root / "fotos")
    for path in (photos / "rojo").iterdir():
        path.write_bytes(b"no es una imagen")
    return photos


def _same_name_twice(root):
    photos = colour_photos(root / "fotos")
    colour_photos(photos, classes={"Rojo": (200, 40, 40)}, per_class=2)
    return photos


def _loose_photos(root):
    photos = colour_photos(root / "fotos", classes={"rojo": (200, 40, 40)})
    for path in (photos / "rojo").iterdir():
        path.rename(photos / path.name)
    (photos / "rojo").rmdir()
    return photos


BAD_INPUTS = [
    (_same_name_twice, "m", "dan la misma clase"),
    (_loose_photos, "m", "tiene 8 fotos sueltas: póngalas en una subcarpeta por clase"),
    (_one_class, "m", "tiene 1 subcarpeta de clase y hacen falta al menos dos"),
    (_empty_class, "m", "La clase «vacía» no tiene ninguna foto"),
    (_deeper, "m", "las hay más adentro, en «"),
    (_not_ours, "m", "ya existe y no es un modelo que enseñara este programa"),
    (_destination_file, "m", "ya existe y no es un modelo que enseñara este programa"),
    (_one_class, "fotos/m", None),  # checked below with two classes
    (_unprintable, "m", "tiene caracteres que no se pueden mostrar"),
    (_blank, "m", "tiene un nombre vacío"),
    (_unreadable_class, "m", "La clase «rojo» no tiene ninguna foto que se pueda leer"),
]


@pytest.mark.parametrize(("make", "destination", "sentence"), [case for case in BAD_INPUTS if case[2]],
                         ids=lambda value: getattr(value, "__name__", None))
def test_bad_input_is_refused_and_nothing_written(make, destination, sentence, tiny_model_dir, tmp_path,
                                                    own_cache, capsys):
    photos = make(tmp_path)
    before = tree(tmp_path)
    assert teach(photos, tmp_path / destination, tiny_model_dir) == 2
    err = capsys.readouterr().err
    assert sentence in err
    assert err.count("Error: ") == 1 and "Traceback" not in err
    after = tree(tmp_path)
    after.pop("config", None)  # the representation cache may hold rows of the photos read before the refusal
    assert {k: v for k, v in after.items() if not k.startswith("config")} == before


def test_destination_inside_the_classes_is_refused(tiny_model_dir, tmp_path, own_cache, capsys):
    photos = colour_photos(tmp_path / "fotos")
    before = tree(tmp_path)
    assert teach(photos, photos / "modelo", tiny_model_dir) == 2
    assert "está dentro de la carpeta de clases" in capsys.readouterr().err
    assert tree(tmp_path) == before


def test_the_classes_inside_the_destination_are_refused(tiny_model_dir, tmp_path, own_cache, capsys):
    photos = colour_photos(tmp_path / "m" / "fotos")
    before = tree(tmp_path)
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 2
    assert "está dentro de la carpeta del modelo nuevo" in capsys.readouterr().err
    assert tree(tmp_path) == before


def test_a_new_model_needs_the_classes(tiny_model_dir, tmp_path, capsys):
    assert main(["--nuevo-modelo", str(tmp_path / "m"), "--modelo", str(tiny_model_dir)]) == 2
    assert "--nuevo-modelo va con --aprender CARPETA" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_base_whose_representation_cannot_be_read(tmp_path, own_cache, capsys):
    """LeViT with its distillation head: the scores are the mean of two layers, so no one layer can be taught."""
    from transformers import LevitConfig, LevitForImageClassificationWithTeacher
    from transformers.models.levit.image_processing_pil_levit import LevitImageProcessorPil

    labels = {0: "a", 1: "b", 2: "c"}
    config = LevitConfig(image_size=64, hidden_sizes=[16, 32, 48], num_attention_heads=[1, 2, 3], depths=[1, 1, 1],
                         key_dim=[8, 8, 8], num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    base = tmp_path / "levit"
    LevitForImageClassificationWithTeacher(config).save_pretrained(base)
    LevitImageProcessorPil(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(base)
    photos = colour_photos(tmp_path / "fotos")
    before = tree(tmp_path)
    assert teach(photos, tmp_path / "m", base) == 2
    assert "No se puede leer la representación del modelo" in capsys.readouterr().err
    assert tree(tmp_path) == before


def test_only_a_folder_it_wrote_is_replaced(tiny_model_dir, tmp_path, own_cache, capsys):
    photos = colour_photos(tmp_path / "fotos", per_class=5)
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    first = tree(tmp_path / "m")
    colour_photos(tmp_path / "fotos", per_class=6, classes={"negro": (10, 10, 10)})
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert "negro" in config["label2id"] and tree(tmp_path / "m") != first
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]  # no temporary folder left


def test_replacing_without_an_atomic_swap(tiny_model_dir, tmp_path, own_cache, capsys, monkeypatch):
    """Where renameat2 is missing (not Linux), the old folder steps aside and the new one takes its place."""
    from classifier.teaching import writing

    photos = colour_photos(tmp_path / "fotos", per_class=5)
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    monkeypatch.setattr(writing, "_exchange", lambda first, second: False)
    colour_photos(tmp_path / "fotos", per_class=6, classes={"negro": (10, 10, 10)})
    assert teach(photos, tmp_path / "m", tiny_model_dir) == 0
    config = json.loads((tmp_path / "m" / "config.json").read_text(encoding="utf-8"))
    assert list(config["label2id"]) == ["azul añil", "negro", "rojo", "verde"]
    assert sorted(os.listdir(tmp_path)) == ["config", "fotos", "m"]
