"""A real ImageNet model, built offline (tests/trained_model.py), gives real answers on the sample photos."""

import copy

import pytest
import torch
from PIL import Image

from classifier.cli import main
from conftest import LINE, PHOTOS, REPO
from trained_model import load_original, reference_logits

GATO, CAFE = REPO / "images" / "gato.png", REPO / "images" / "cafe.png"
CATS = {"tiger cat", "Egyptian cat", "tabby, tabby cat"}


@pytest.fixture(scope="module")
def model(trained_model_dir):
    from transformers import AutoModelForImageClassification

    return AutoModelForImageClassification.from_pretrained(trained_model_dir).eval()


@pytest.fixture(scope="module")
def processor(trained_model_dir):
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(trained_model_dir, backend="pil")


@pytest.fixture(scope="module")
def pipe(trained_model_dir):
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(trained_model_dir), device="cpu")
    assert pipe.image_processor.backend == "pil"  # the backend the program uses
    return pipe


def test_the_processor_gives_the_official_lite_input(processor):
    """224x224 centre crop of (pixel - 127) / 128: the same scale on every channel, divided once."""
    assert type(processor).__name__ == "EfficientNetImageProcessorPil"
    for value, expected in ((127, 0.0), (255, 1.0), (0, -127 / 128)):
        pixels = processor(images=Image.new("RGB", (400, 300), (value,) * 3), return_tensors="pt")["pixel_values"]
        assert pixels.shape == (1, 3, 224, 224)
        assert torch.allclose(pixels, torch.full_like(pixels, expected), atol=1e-6)


def test_squeeze_excite_layers_are_an_exact_identity(model):
    """Lite has no SE; the layers transformers always builds must not change a single bit."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for block in model.efficientnet.encoder.blocks:
            x = torch.randn(2, block.squeeze_excite.dim, 7, 7, generator=generator) * 10
            assert torch.equal(block.squeeze_excite(x), x)


def test_converted_logits_equal_the_original_network(model, processor):
    pixels = torch.cat([processor(images=Image.open(path).convert("RGB"), return_tensors="pt")["pixel_values"]
                        for path in PHOTOS])
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
    expected = reference_logits(pixels)
    assert logits.shape == expected.shape == (len(PHOTOS), 1000)
    assert (logits - expected).abs().max().item() < 1e-5
    # float32 rounding alone moves these logits by up to ~7e-6; in float64 any real difference would show.
    original = {name: t.double() if t.is_floating_point() else t for name, t in load_original().items()}
    with torch.no_grad():
        logits = copy.deepcopy(model).double()(pixel_values=pixels.double()).logits
    assert (logits - reference_logits(pixels.double(), original)).abs().max().item() < 1e-9


def test_the_pipeline_sees_a_cat_and_an_espresso(pipe):
    assert {p["label"] for p in pipe(str(GATO), top_k=3)} == CATS
    top = pipe(str(CAFE), top_k=1)[0]
    assert top["label"] == "espresso" and top["score"] > 0.8


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
