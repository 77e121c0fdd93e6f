"""Processors and heads beyond the fixed-size softmax ViT, against transformers.pipeline on the same folder.

- crop_pct (ConvNeXT): the resize before the crop is bounded like any other resize;
- pictures a processor cannot take (a strip it would make 0 pixels wide): that photo's error, the run goes on;
- processors that keep each photo's proportions: photos of different shapes in one batch;
- sigmoid scores for multi-label and one-class models, as the pipeline gives them.
"""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.app.cli import main
from classifier.engine.classifying import Engine
from classifier.model import Classifier
from conftest import PHOTOS, reliability

TRIED = reliability.setdefault("modelos", set())
LABELS = ["gato", "perro", "coche", "casa", "árbol"]


def _square_vit(folder, labels=LABELS, image_size=32, seed=0, problem_type=None, spread=40.0):
    """A random ViT of image_size (int or (height, width)) saved with a ViT processor; its head spread so
    that scores differ per picture."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=image_size, patch_size=8, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, num_labels=len(labels),
                       id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
                       problem_type=problem_type)
    torch.manual_seed(seed)
    model = ViTForImageClassification(config).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(spread)
        model.classifier.bias.zero_()
    model.save_pretrained(folder)
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    ViTImageProcessor(size={"height": height, "width": width}).save_pretrained(folder)
    return folder


def _edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _processor(folder, **settings):
    _edit(folder / "preprocessor_config.json", lambda c: c.update(settings))


def _run(capsys, *args):
    capsys.readouterr()
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _pipeline(folder):
    from transformers import pipeline

    return pipeline("image-classification", model=str(folder), device="cpu", trust_remote_code=False)


def _assert_same_as_pipeline(predictions, expected):
    assert [p.label for p in predictions] == [e["label"] for e in expected]
    np.testing.assert_allclose([p.score for p in predictions], [e["score"] for e in expected], atol=1e-5, rtol=0)


def _photos(tmp_path):
    """The sample photos and pictures of other shapes: wide, tall, square, a strip."""
    files = list(PHOTOS)
    rng = np.random.default_rng(0)
    for index, size in enumerate([(64, 48), (40, 40), (48, 64), (300, 20), (37, 91)]):
        path = tmp_path / f"forma-{index}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        files.append(path)
    return files


# --- crop_pct ---------------------------------------------------------------------------------------


def _convnext_processor(folder, crop_pct):
    _processor(folder, image_processor_type="ConvNextImageProcessor", crop_pct=crop_pct, size={"shortest_edge": 32})


def test_a_tiny_crop_pct_is_a_broken_model_at_load(capsys, tmp_path):
    # 32 / 0.009 = 3,555 pixels for the probe's shortest edge: 4,740 x 3,555, past the 16-megapixel bound
    # (0.0015 would resize every photo to 28,000 x 21,000, 6 GB, before its 32 x 32 crop).
    model = _square_vit(tmp_path / "modelo")
    _convnext_processor(model, 0.009)
    code, out, err = _run(capsys, "--modelo", model, PHOTOS[0])
    assert code == 2 and out == "", (code, out, err)
    [line] = err.splitlines()
    assert line.startswith(f"Error: El modelo «{model}» está roto: ") and "crop_pct" in line, line
    TRIED.add("preprocesador: crop_pct diminuto (ConvNeXT)")


def test_a_usual_crop_pct_gives_the_pipelines_scores(tmp_path):
    model = _square_vit(tmp_path / "modelo")
    _convnext_processor(model, 0.875)
    classifier, reference = Classifier.load(str(model), device="cpu"), _pipeline(model)
    for path in _photos(tmp_path):
        [predictions] = classifier.classify([Image.open(path).convert("RGB")], 5)
        _assert_same_as_pipeline(predictions, reference(str(path), top_k=5))



def test_convnext_at_384_warps_a_panorama_it_does_not_enlarge_it(tmp_path):
    # At 384 or more ConvNeXT's processor squashes every picture to a square and leaves crop_pct unused: a
    # 9000 x 100 panorama is classified (the pipeline does it), not refused as «demasiado alargada».
    model = _square_vit(tmp_path / "modelo", image_size=384)
    _processor(model, image_processor_type="ConvNextImageProcessor", crop_pct=0.875, size={"shortest_edge": 384})
    panorama = tmp_path / "panoramica.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (100, 9000, 3), dtype=np.uint8)).save(panorama)
    [result] = Engine(Classifier.load(str(model), device="cpu"), 5).run([(str(panorama), None)], batch_size=1)
    assert result.error is None, result.error
    _assert_same_as_pipeline(result.predictions, _pipeline(model)(str(panorama), top_k=5))

# --- a picture the processor cannot take --------------------------------------------------------------

SHRINKING = {
    "caja de 32 × 32 y recorte": {"size": {"max_height": 32, "max_width": 32}, "do_center_crop": True,
                                  "crop_size": {"height": 32, "width": 32}},
    "CLIP, lado corto 32 y largo 40": {"image_processor_type": "CLIPImageProcessor", "do_center_crop": True,
                                       "size": {"shortest_edge": 32, "longest_edge": 40},
                                       "crop_size": {"height": 32, "width": 32}},
}


@pytest.mark.parametrize("case", sorted(SHRINKING))
def test_a_strip_the_processor_would_make_0_pixels_wide_is_its_own_error(capsys, tmp_path, case):
    model = _square_vit(tmp_path / "modelo")
    _processor(model, **SHRINKING[case])
    strip, green = tmp_path / "tira.png", tmp_path / "verde.png"
    Image.new("RGB", (1, 1000), (9, 9, 9)).save(strip)
    Image.new("RGB", (40, 40), (0, 200, 0)).save(green)
    with pytest.raises(ValueError):  # the reference: transformers itself cannot take it
        _pipeline(model)(str(strip))
    expected = _pipeline(model)(str(green), top_k=1)
    log = tmp_path / "registro.jsonl"
    for run in ("primera", "repetida"):
        code, out, err = _run(capsys, "--modelo", model, "-k", "1", "--formato", "json", "--guardar", log, strip,
                              green)
        assert code == 1 and "Traceback" not in err, (run, code, err)
        records = [json.loads(line) for line in out.splitlines()]
        assert records[0] == {"path": str(strip), "error": (
            f"No se puede clasificar «{strip}»: la imagen es demasiado alargada (1 × 1.000 píxeles) para este "
            "modelo, que la reduciría a menos de un píxel de ancho o de alto.")}, records
        if run == "primera":
            assert records[1]["path"] == str(green)
            _assert_same_as_pipeline_json(records[1]["predictions"], expected)
        else:
            assert len(records) == 1  # the green photo was recorded; the strip is tried again and told again


def _assert_same_as_pipeline_json(predictions, expected):
    assert [p["label"] for p in predictions] == [e["label"] for e in expected]
    np.testing.assert_allclose([p["score"] for p in predictions], [e["score"] for e in expected], atol=1e-5)


@pytest.mark.parametrize("case", sorted(SHRINKING) + ["SAM, lado largo 32 y relleno"])
def test_thin_strips_are_refused_exactly_when_transformers_cannot_take_them(tmp_path, case):
    # Some processors truncate a 0.9-pixel side to 0, others round it to 1: the pipeline decides.
    model = _square_vit(tmp_path / "modelo")
    _processor(model, **SHRINKING.get(case, {"image_processor_type": "SamImageProcessor", "do_pad": True,
                                             "size": {"longest_edge": 32}, "pad_size": {"height": 32, "width": 32}}))
    classifier, reference = Classifier.load(str(model), device="cpu"), _pipeline(model)
    files, expected = [], []
    for index, size in enumerate([(1, 32), (1, 33), (1, 41), (1, 44), (46, 1), (2, 60), (2, 70), (5, 100), (1, 200),
                                        (3, 5000), (1, 1000)]):
        path = tmp_path / f"tira-{index}.png"
        Image.new("RGB", size, (index * 30, 90, 200)).save(path)
        files.append((str(path), None))
        try:
            expected.append(reference(str(path), top_k=2))
        except ValueError:
            expected.append(None)
    assert None in expected and any(e is not None for e in expected)  # both kinds, for each processor
    for (path, _), result, reference_result in zip(files, Engine(classifier, 2).run(files, 8), expected, strict=True):
        if reference_result is None:
            assert result.error.startswith(f"No se puede clasificar «{path}»: la imagen es demasiado alargada (")
            assert result.error.endswith("para este modelo, que la reduciría a menos de un píxel de ancho o de alto.")
        else:
            assert result.error is None, result.error
            _assert_same_as_pipeline(result.predictions, reference_result)


def test_whatever_the_processor_raises_on_one_picture_is_that_pictures_error(tmp_path, monkeypatch):
    # A size this program cannot foresee (resize_bound gives None): the processor's own ValueError reaches
    # the engine. After the load's probe, a processor failure is the picture's (its shape is all that differs).
    model = _square_vit(tmp_path / "modelo")
    _processor(model, **SHRINKING["caja de 32 × 32 y recorte"])
    classifier = Classifier.load(str(model), device="cpu")
    monkeypatch.setattr("classifier.model.classify.resize_bound", lambda processor, width, height: None)
    strip, green = tmp_path / "tira.png", tmp_path / "verde.png"
    Image.new("RGB", (1, 1000)).save(strip)
    Image.new("RGB", (40, 40), (0, 200, 0)).save(green)
    results = list(Engine(classifier, 1).run([(str(strip), None), (str(green), None)], batch_size=2))
    assert results[0].error == (f"No se puede clasificar «{strip}»: el preprocesador de este modelo no puede con "
                                "una imagen de 1 × 1.000 píxeles.")
    _assert_same_as_pipeline(results[1].predictions, _pipeline(model)(str(green), top_k=1))


# --- processors that keep each photo's proportions ------------------------------------------------------


def _resnet_keeping_proportions(folder):
    from transformers import BitImageProcessor, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                          num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
                          label2id={label: i for i, label in enumerate(LABELS)})
    ResNetForImageClassification(config).save_pretrained(folder)
    BitImageProcessor(size={"shortest_edge": 32}, do_center_crop=False).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("maps", [False, True])
def test_photos_of_different_shapes_share_a_batch_in_input_order(tmp_path, maps):
    model = _resnet_keeping_proportions(tmp_path / "resnet")
    classifier, reference = Classifier.load(str(model), device="cpu"), _pipeline(model)
    files = [(str(path), None) for path in _photos(tmp_path)]
    alone = list(Engine(classifier, 5, maps=maps).run(files, batch_size=1))  # --lote 1: the reference run
    together = list(Engine(classifier, 5, maps=maps).run(files, batch_size=8))
    assert [r.path for r in together] == [path for path, _ in files]
    for one, many in zip(alone, together, strict=True):
        assert many.error is None, many.error
        _assert_same_as_pipeline(many.predictions, reference(many.path, top_k=5))
        assert [p.label for p in many.predictions] == [p.label for p in one.predictions]
        if maps:
            np.testing.assert_allclose(many.heatmap.values, one.heatmap.values, rtol=1e-4, atol=1e-6)


def test_a_shape_the_network_refuses_is_that_photos_error_and_the_batch_goes_on(capsys, tmp_path):
    # A ViT built for 32 x 42 (the load's probe, 640 x 480, becomes 32 x 42 at a shortest edge of 32) with a
    # processor that keeps proportions: a square photo becomes 32 x 32, which this ViT refuses.
    model = _square_vit(tmp_path / "modelo", image_size=(32, 42))
    _processor(model, image_processor_type="BitImageProcessor", size={"shortest_edge": 32}, do_center_crop=False)
    wide, square = tmp_path / "ancha.png", tmp_path / "cuadrada.png"
    Image.new("RGB", (640, 480), (200, 30, 30)).save(wide)
    Image.new("RGB", (40, 40), (0, 200, 0)).save(square)
    with pytest.raises(ValueError):  # the reference: transformers' own pipeline cannot run it either
        _pipeline(model)(str(square))
    code, out, err = _run(capsys, "--modelo", model, "-k", "1", "--formato", "json", square, wide)
    assert code == 1 and "Traceback" not in err, err
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0] == {"path": str(square), "error": (
        f"No se puede clasificar «{square}»: la red de este modelo no acepta la entrada de 32 × 32 píxeles que su "
        "preprocesador hace de ella.")}, records
    _assert_same_as_pipeline_json(records[1]["predictions"], _pipeline(model)(str(wide), top_k=1))



@pytest.mark.parametrize("failure", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory: you tried to "
                 "allocate 1073741824 bytes. Error: Cannot allocate memory"),
    MemoryError(),
], ids=["GPU", "CPU", "Python"])
def test_memory_running_out_in_the_network_is_said_so_for_those_photos(tmp_path, monkeypatch, failure):
    # Torch's own out-of-memory errors are RuntimeErrors: on a shape the probe ran they escaped as a traceback,
    # on another they were blamed on the model («no acepta la entrada»). The next batch still runs.
    model = _square_vit(tmp_path / "modelo")
    classifier = Classifier.load(str(model), device="cpu")
    files = _photos(tmp_path)[:3]
    forward, calls = classifier.model.forward, []

    def runs_out_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise failure
        return forward(*args, **kwargs)

    monkeypatch.setattr(classifier.model, "forward", runs_out_once)
    results = list(Engine(classifier, 1).run([(str(p), None) for p in files], batch_size=2))
    assert [r.error for r in results[:2]] == [
        f"No se puede clasificar «{p}»: no hay memoria suficiente para procesar esta imagen." for p in files[:2]]
    _assert_same_as_pipeline(results[2].predictions, _pipeline(model)(str(files[2]), top_k=1))

# --- sigmoid scores ------------------------------------------------------------------------------------


def _scored_model(folder, kind):
    if kind == "una clase":
        return _square_vit(folder, labels=["perro"], spread=8.0)
    return _square_vit(folder, problem_type="multi_label_classification", spread=8.0)


@pytest.mark.parametrize("kind", ["una clase", "multietiqueta"])
def test_sigmoid_scores_equal_the_pipeline(tmp_path, kind):
    model = _scored_model(tmp_path / "modelo", kind)
    classifier, reference = Classifier.load(str(model), device="cpu"), _pipeline(model)
    files = _photos(tmp_path)
    results = list(Engine(classifier, 5).run([(str(p), None) for p in files], batch_size=3))
    scores = []
    for result in results:
        expected = reference(result.path, top_k=5)
        _assert_same_as_pipeline(result.predictions, expected)
        scores += [e["score"] for e in expected]
    assert max(scores) - min(scores) > 0.05  # not a constant: a one-class softmax would be 1.0 everywhere


@pytest.mark.parametrize("kind", ["una clase", "multietiqueta"])
def test_maps_of_sigmoid_models_keep_the_same_scores(tmp_path, kind):
    model = _scored_model(tmp_path / "modelo", kind)
    classifier, reference = Classifier.load(str(model), device="cpu"), _pipeline(model)
    pixels = torch.cat([classifier.preprocess(Image.open(p).convert("RGB")) for p in PHOTOS])
    from classifier.maps import GRADIENT_ATTENTION

    for method in (classifier.attention_method, GRADIENT_ATTENTION):
        classifier.attention_method, classifier.map_method = method, None
        probs, maps = classifier.probabilities_and_maps(pixels)
        for path, row, heatmap in zip(PHOTOS, probs, maps, strict=True):
            _assert_same_as_pipeline(classifier.top_k(row, 5), reference(str(path), top_k=5))
            assert heatmap.values.shape == (4, 4) and np.isfinite(heatmap.values).all()


def test_a_regression_model_is_refused_in_one_sentence(capsys, tmp_path):
    model = _square_vit(tmp_path / "modelo", labels=["edad"])
    _edit(model / "config.json", lambda c: c.update(problem_type="regression"))
    code, out, err = _run(capsys, "--modelo", model, PHOTOS[0])
    assert code == 2 and out == ""
    assert err == (f"Error: El modelo «{model}» es de regresión (problem_type «regression» en config.json): da "
                   "valores, no puntuaciones de clases, y este programa clasifica.\n"), err


# --- the part of the picture the model saw, under a crop_pct --------------------------------------------


@pytest.mark.parametrize(("kind", "settings", "seen"), [
    # Independently: 320 x 160 at a shortest edge of 32 / 0.5 = 64 is 128 x 64; the 32 x 32 centre crop
    # is 80 x 80 of the original.
    ("ConvNeXT", {"image_processor_type": "ConvNextImageProcessor", "crop_pct": 0.5, "size": {"shortest_edge": 32}},
     (80, 80)),
    # PoolFormer: 32 x 32 / 0.5 keeps the proportions at a shortest edge of 64 (128 x 64), then a 32 x 32 crop.
    ("PoolFormer", {"image_processor_type": "PoolFormerImageProcessor", "crop_pct": 0.5,
                    "size": {"height": 32, "width": 32}, "do_center_crop": True,
                    "crop_size": {"height": 32, "width": 32}}, (80, 80)),
    # ConvNeXT at 384 or more warps the whole picture: no crop.
    ("ConvNeXT de 384", {"image_processor_type": "ConvNextImageProcessor", "crop_pct": 0.5,
                         "size": {"shortest_edge": 384}}, (320, 160)),
])
def test_the_seen_region_follows_crop_pct(tmp_path, kind, settings, seen):
    model = _square_vit(tmp_path / "modelo", image_size=384 if "384" in kind else 32)
    _processor(model, **settings)
    classifier = Classifier.load(str(model), device="cpu", maps=False)
    assert classifier.seen_region(Image.new("RGB", (320, 160))).size == seen


def test_a_strip_poolformer_would_enlarge_past_the_bound_is_refused(capsys, tmp_path):
    # PoolFormer reads a square size with a crop_pct as a shortest edge: a 1 x 20000 strip would become
    # 35 x 700,000 (24 megapixels, 300 MB as floats) before its crop; a photo is taken as the pipeline takes it.
    model = _square_vit(tmp_path / "modelo")
    _processor(model, image_processor_type="PoolFormerImageProcessor", crop_pct=0.9, size={"height": 32, "width": 32},
               do_center_crop=True, crop_size={"height": 32, "width": 32})
    strip = tmp_path / "tira.png"
    Image.new("RGB", (1, 20_000)).save(strip)
    code, out, err = _run(capsys, "--modelo", model, "-k", "2", "--formato", "json", strip, PHOTOS[0])
    assert code == 1
    records = [json.loads(line) for line in out.splitlines()]
    assert records[0]["error"].startswith(f"No se puede clasificar «{strip}»: la imagen es demasiado alargada (1 × "
                                          "20000 píxeles) para este modelo, que la ampliaría hasta "), records[0]
    _assert_same_as_pipeline_json(records[1]["predictions"], _pipeline(model)(str(PHOTOS[0]), top_k=2))
