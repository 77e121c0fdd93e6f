"""The pointing game on trained models: does the map's peak land on the object?

EfficientNet-Lite0 (ImageNet, tests/trained_model.py) with Grad-CAM, on the real photos
of images/ pasted small at random places; a tiny ViT trained here (tests/synthetic_vit.py)
with the rollout and with gradient-weighted attention. The figures are printed at the
end of the run (section «Mapas: juego del puntero») and copied into docs/arquitectura.md.
"""

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from conftest import PHOTOS, pointing
from pointing import TOLERANCE, Box, Score, peak

CANVAS = 448  # square: the Lite0 processor sees its central 392 x 392
PLACES = 5  # per photo and background
SIDES = (0.35, 0.55)  # the photo's longer side, as a share of the seen square's
FEATHER = 6  # pixels of soft edge: a hard frame reads as a light switch or an envelope to ImageNet models


def _background(kind, rng):
    if kind == "liso":
        return Image.new("RGB", (CANVAS, CANVAS), tuple(int(v) for v in rng.integers(0, 256, 3)))
    if kind == "textura":  # smooth colour noise
        cells = rng.integers(0, 256, (CANVAS // 16, CANVAS // 16, 3), dtype=np.uint8)
        return Image.fromarray(cells).resize((CANVAS, CANVAS), Image.Resampling.BICUBIC)
    # rayas: stripes of two random colours at a random angle
    first, second = rng.integers(0, 256, (2, 3))
    y, x = np.mgrid[0:CANVAS, 0:CANVAS]
    angle, period = rng.uniform(0, np.pi), rng.uniform(12, 40)
    stripes = (np.sin((x * np.cos(angle) + y * np.sin(angle)) * 2 * np.pi / period) > 0)[..., None]
    return Image.fromarray(np.where(stripes, first, second).astype(np.uint8))


def _paste(canvas, photo, seen, rng):
    """Paste photo, its longer side a random share of the seen square, at a random place inside it;
    returns its Box."""
    side = round(seen.width * rng.uniform(*SIDES))
    small = photo.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    width, height = small.size
    left = round(seen.left + rng.uniform(0, seen.width - width))
    top = round(seen.top + rng.uniform(0, seen.height - height))
    mask = Image.new("L", small.size, 0)
    ImageDraw.Draw(mask).rectangle((FEATHER, FEATHER, width - 1 - FEATHER, height - 1 - FEATHER), fill=255)
    canvas.paste(small, (left, top), mask.filter(ImageFilter.GaussianBlur(FEATHER / 2)))
    return Box(left, top, width, height)


@pytest.fixture(scope="module")
def lite0(trained_model_dir):
    from classifier.model import Classifier

    return Classifier.load(str(trained_model_dir), device="cpu")


def test_grad_cam_of_the_trained_efficientnet_points_at_the_pasted_photo(lite0):
    import torch

    from classifier.maps import GRAD_CAM, grad_cam_maps

    rng = np.random.default_rng(2016)
    named, top1, strict = Score(), Score(), Score()
    cases = 0
    input_side = lite0.processor.crop_size["width"]
    for path in PHOTOS:
        photo = Image.open(path).convert("RGB")
        [(alone, _)] = lite0.classify_with_maps([photo], 1)
        for kind in ("liso", "textura", "rayas"):
            for _ in range(PLACES):
                canvas = _background(kind, rng)
                seen_size = lite0.seen_region(canvas).size  # a centred crop
                seen = Box((CANVAS - seen_size[0]) / 2, (CANVAS - seen_size[1]) / 2, *seen_size)
                box = _paste(canvas, photo, seen, rng)
                target = box.grown(TOLERANCE * seen.width / input_side, seen)
                share = target.area / seen.area
                cases += 1
                # What the program shows: its prediction and the map of its top class.
                [(predictions, heatmap)] = lite0.classify_with_maps([canvas], 5)
                assert heatmap.method is GRAD_CAM
                x, y = peak(heatmap.values, round(seen.width), round(seen.height))
                if predictions[0].id == alone[0].id:
                    top1.add(target.holds(seen.left + x, seen.top + y), share)
                # Zhang et al.'s protocol: the map of the photo's own class, where the model still
                # names it among its five first (the ImageNet top-5 rule).
                if alone[0].id in [p.id for p in predictions]:
                    pixels = lite0.preprocess(canvas)
                    _, [values] = grad_cam_maps(lite0.model, pixels, classes=[alone[0].id])
                    x, y = peak(values.numpy(), round(seen.width), round(seen.height))
                    named.add(target.holds(seen.left + x, seen.top + y), share)
                    strict.add(box.holds(seen.left + x, seen.top + y), box.area / seen.area)
                    assert torch.isfinite(values).all()
    pointing.extend([
        f"EfficientNet-Lite0, Grad-CAM de la clase de la foto, si está entre las 5 primeras: {named} "
        f"({cases} collages)",
        f"  sin tolerancia (el pico dentro de la foto misma): {strict}",
        f"EfficientNet-Lite0, Grad-CAM de la primera clase, si es la de la foto: {top1}",
    ])
    assert named.cases >= 15, named
    assert named.rate >= 0.8 and named.rate > 2 * named.chance / named.cases, named
    assert top1.rate >= 0.8 or top1.cases < 5, top1


VIT_CASES = 200
# Another CPU sums in another order: a rounding's worth of drift in the retrained weights, not a new model.
TRAINING_RTOL, TRAINING_ATOL = 1e-3, 1e-5


@pytest.fixture(scope="module")
def synthetic_vit():
    """The tiny ViT of tests/synthetic_vit.py, trained once and committed (tests/fixtures/vit-sintetico)."""
    from synthetic_vit import trained_vit

    return trained_vit()


# Training costs 3 to 5 minutes of CPU: CI (which sets CI) retrains; a student's run trusts the key.
@pytest.mark.skipif(not os.environ.get("CI"), reason="reentrena el ViT diminuto (3 a 5 min de CPU): solo con CI=true")
def test_the_committed_tiny_vit_is_what_its_code_trains(tmp_path):
    import torch
    from safetensors.torch import load_file

    from synthetic_vit import FIXTURE, build, trained_vit

    assert trained_vit() == FIXTURE  # built by this very code
    rebuilt = build(tmp_path / "vit-sintetico")
    committed, fresh = load_file(FIXTURE / "model.safetensors"), load_file(rebuilt / "model.safetensors")
    assert committed.keys() == fresh.keys()
    for name, tensor in committed.items():
        torch.testing.assert_close(fresh[name], tensor, rtol=TRAINING_RTOL, atol=TRAINING_ATOL, msg=name)
    for name in ("config.json", "preprocessor_config.json"):
        assert (rebuilt / name).read_text(encoding="utf-8") == (FIXTURE / name).read_text(encoding="utf-8")


def test_the_attention_maps_of_a_trained_vit_point_at_the_object(synthetic_vit):
    """The rollout must point at the object; gradient-weighted attention (Chefer et al., 2021) is
    measured on the same pictures, and the default is whichever of the two points better."""
    from classifier.maps import ATTENTION_DEFAULT, GRADIENT_ATTENTION, ROLLOUT
    from classifier.model import Classifier
    from synthetic_vit import KINDS, SIZE, draw

    classifier = Classifier.load(str(synthetic_vit), device="cpu")
    pictures, kinds, boxes = draw(np.random.default_rng(7), VIT_CASES)  # training used another seed
    images = [Image.fromarray(picture) for picture in pictures]
    seen = Box(0, 0, SIZE, SIZE)
    scores, strict = {}, {}
    for method in (ROLLOUT, GRADIENT_ATTENTION):
        classifier.attention_method, classifier.map_method = method, None
        scores[method], strict[method] = Score(), Score()
        results = classifier.classify_with_maps(images, 1)
        correct = 0
        for (predictions, heatmap), kind, (left, top, side) in zip(results, kinds, boxes, strict=True):
            assert heatmap.method is method
            if predictions[0].id != kind:
                continue
            correct += 1
            box = Box(left, top, side, side)
            target = box.grown(TOLERANCE * SIZE / 224, seen)
            x, y = peak(heatmap.values, SIZE, SIZE)
            scores[method].add(target.holds(x, y), target.area / seen.area)
            strict[method].add(box.holds(x, y), box.area / seen.area)
        assert correct >= 0.9 * VIT_CASES, f"the tiny ViT names only {correct} of {VIT_CASES} objects"
    name = f"ViT diminuto entrenado ({len(KINDS)} texturas sobre fondo revuelto, {VIT_CASES} imágenes)"
    pointing.extend([
        f"{name}, rollout: {scores[ROLLOUT]}",
        f"  sin tolerancia: {strict[ROLLOUT]}",
        f"{name}, atención ponderada por gradientes: {scores[GRADIENT_ATTENTION]}",
        f"  sin tolerancia: {strict[GRADIENT_ATTENTION]}",
    ])
    assert scores[ROLLOUT].rate >= 0.8, scores[ROLLOUT]
    other = GRADIENT_ATTENTION if ATTENTION_DEFAULT is ROLLOUT else ROLLOUT
    assert scores[ATTENTION_DEFAULT].rate >= scores[other].rate, "the default must be the method that points better"
