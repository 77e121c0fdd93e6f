"""A real ImageNet model, built offline (tests/trained_model.py), gives real answers on the sample photos."""

import pytest
import torch
from PIL import Image

from classifier.cli import main
from conftest import LINE, PHOTOS, REPO
from trained_model import reference_logits

GATO, CAFE = REPO / "images" / "gato.png", REPO / "images" / "cafe.png"
CATS = {"tiger cat", "Egyptian cat", "tabby, tabby cat"}


@pytest.fixture(scope="module")
def classifier(trained_model_dir):
    from classifier.model import Classifier

    return Classifier.load(str(trained_model_dir), device="cpu", language="en")


@pytest.fixture(scope="module")
def pipe(trained_model_dir):
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(trained_model_dir), device="cpu", trust_remote_code=False)
    assert pipe.image_processor.backend == "pil"  # the backend the program uses
    return pipe


def test_the_program_gives_the_official_lite_input(classifier):
    """224x224 centre crop of (pixel - 127) / 128, the same scale on every channel: Lite's published recipe."""
    for value, expected in ((127, 0.0), (255, 1.0), (0, -127 / 128)):
        pixels = classifier.preprocess(Image.new("RGB", (400, 300), (value,) * 3))
        assert pixels.shape == (1, 3, 224, 224)
        assert torch.allclose(pixels, torch.full_like(pixels, expected), atol=1e-6)


def test_the_programs_scores_are_the_original_networks(classifier):
    """Its probabilities equal the softmax of the original Lite0 (its own weights and layout, not transformers')."""
    pixels = torch.cat([classifier.preprocess(Image.open(path).convert("RGB")) for path in PHOTOS])
    probs = classifier.probabilities(pixels)
    expected = torch.softmax(reference_logits(pixels), dim=-1)
    assert probs.shape == expected.shape == (len(PHOTOS), 1000)
    assert (probs - expected).abs().max().item() < 1e-6
    top = [classifier.top_k(row, 1)[0].label for row in probs]
    assert top[PHOTOS.index(CAFE)] == "espresso" and top[PHOTOS.index(GATO)] in CATS


def test_the_batch_command_prints_the_pipelines_classes(capsys, trained_model_dir, pipe):
    code = main(["--model", str(trained_model_dir), "--idioma", "en", str(GATO), str(CAFE)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    blocks = [block.splitlines() for block in out.strip().split("\n\n")]
    assert [block[0] for block in blocks] == [str(GATO), str(CAFE)]
    for path, *lines in blocks:
        parsed = [LINE.match(line) for line in lines]
        assert all(parsed), lines
        expected = pipe(path, top_k=len(lines))
        assert [m[2].rstrip() for m in parsed] == [e["label"] for e in expected]
        assert [m[3] for m in parsed] == [f"{e['score']:.3f}" for e in expected]
    assert {m[2].rstrip() for m in map(LINE.match, blocks[0][1:4])} == CATS
    assert LINE.match(blocks[1][1])[2].rstrip() == "espresso"
