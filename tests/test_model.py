"""The classifier core against the transformers pipeline on the same tiny model."""

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.base.errors import ModelLoadError
from classifier.engine.classifying import Engine
from classifier.model import Classifier, fast_precision, resolve_device
from classifier.model.precision import CLEAR_WIN, PrecisionChoice
from conftest import PHOTOS, TINY_LABELS


def _random_image(width, height, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    shape = (height, width, 3) if mode == "RGB" else (height, width)
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


SIZES = [(1, 1), (48, 32), (640, 480), (480, 640), (5000, 10), (10, 5000), (1999, 1333), (4000, 3000),
         (3000, 4000), (900, 3000)]


@pytest.mark.parametrize("size", SIZES)
def test_preprocess_is_bit_identical_to_the_image_processor(tiny_classifier, size):
    image = _random_image(*size, seed=size[0])
    expected = tiny_classifier.processor(images=image, return_tensors="pt")["pixel_values"]
    actual = tiny_classifier.preprocess(image)
    assert actual.dtype == expected.dtype == torch.float32
    assert torch.equal(actual, expected)


def test_preprocess_of_real_photos_is_bit_identical(tiny_classifier):
    for path in PHOTOS:
        image = Image.open(path).convert("RGB")
        expected = tiny_classifier.processor(images=image, return_tensors="pt")["pixel_values"]
        assert torch.equal(tiny_classifier.preprocess(image), expected), path.name


BAND_SHAPES = [(4000, 3000), (3000, 4000), (542, 2443), (710, 768), (10, 5000), (5000, 10), (300, 200),
               (225, 225), (7, 9), (1333, 1999)]
BAND_TARGETS = [(224, 224), (48, 32), (384, 384), (32, 48)]


@pytest.mark.parametrize("shape", BAND_SHAPES + [tuple(int(v) for v in np.random.default_rng(3).integers(2, 2500, 2))
                                                 for _ in range(12)])
def test_resizing_in_bands_gives_pillows_bytes(monkeypatch, shape):
    from concurrent.futures import ThreadPoolExecutor

    from classifier.model import resize_in_bands

    monkeypatch.setattr("classifier.model.geometry._BAND_MIN_PIXELS", 0)  # split even small pictures
    image = _random_image(*shape, seed=shape[0] * 7 + shape[1])
    with ThreadPoolExecutor(3) as pool:
        for size in BAND_TARGETS:
            for resample in (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS):
                expected = np.asarray(image.resize(size, resample=resample))
                for bands in (2, 3):
                    actual = np.asarray(resize_in_bands(image, size, resample, pool, bands))
                    np.testing.assert_array_equal(actual, expected, err_msg=f"{shape}->{size} {resample} {bands}")


def test_shortcut_is_used_and_sized_width_by_height(tiny_classifier):
    # The tiny model is 48 wide and 32 high: a swapped order would show here.
    assert tiny_classifier.draft_size == (48, 32)
    assert tuple(tiny_classifier.preprocess(_random_image(100, 100)).shape) == (1, 3, 32, 48)


def _assert_same_as_pipeline(predictions, expected):
    assert [p.label for p in predictions] == [e["label"] for e in expected]
    np.testing.assert_allclose([p.score for p in predictions], [e["score"] for e in expected], atol=1e-5, rtol=0)


def _image_files(tmp_path):
    files = list(PHOTOS)
    for index, (size, mode) in enumerate([((640, 480), "RGB"), ((33, 700), "RGB"), ((300, 200), "L")]):
        path = tmp_path / f"synthetic-{index}.png"
        _random_image(*size, mode=mode, seed=index).save(path)
        files.append(path)
    grey = tmp_path / "grey.jpg"
    Image.open(PHOTOS[0]).convert("L").save(grey, quality=90)
    return files + [grey]


def test_scores_equal_the_pipeline_one_by_one(tiny_classifier, reference, tmp_path):
    k = len(TINY_LABELS)
    for path in _image_files(tmp_path):
        expected = reference(str(path), top_k=k)
        image = Image.open(path).convert("RGB")
        [predictions] = tiny_classifier.classify([image], k)
        _assert_same_as_pipeline(predictions, expected)


def test_batched_scores_equal_the_pipeline(tiny_classifier, reference, tmp_path):
    files = _image_files(tmp_path)
    results = list(Engine(tiny_classifier, top_k=5).run([(str(p), None) for p in files], batch_size=3))
    assert [r.path for r in results] == [str(p) for p in files]
    for result in results:
        assert result.error is None
        _assert_same_as_pipeline(result.predictions, reference(result.path, top_k=5))


def test_the_tiny_model_is_far_from_uniform(tiny_classifier):
    # Otherwise the equality tests above would compare near-ties and prove little.
    probs = tiny_classifier.probabilities(torch.cat([tiny_classifier.preprocess(Image.open(p).convert("RGB"))
                                                     for p in PHOTOS]))
    assert probs.max(dim=1).values.min() > 3 / len(TINY_LABELS)
    assert len({int(i) for i in probs.argmax(dim=1)}) >= 2


def test_top_k_is_clamped_to_the_number_of_labels(tiny_classifier):
    [predictions] = tiny_classifier.classify([_random_image(64, 64)], 1000)
    assert len(predictions) == len(TINY_LABELS)
    assert sorted(p.label for p in predictions) == sorted(TINY_LABELS)
    scores = [p.score for p in predictions]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0, abs=1e-5)


def test_labels_come_from_the_model_config(tiny_classifier):
    assert tiny_classifier.labels == [tiny_classifier.model.config.id2label[i] for i in range(len(TINY_LABELS))]
    assert tiny_classifier.labels == TINY_LABELS


def test_model_is_in_eval_mode_and_float32_by_default(tiny_classifier):
    assert not tiny_classifier.model.training
    assert tiny_classifier.dtype == torch.float32
    assert next(tiny_classifier.model.parameters()).dtype == torch.float32


def test_device_auto_is_cpu_without_a_gpu():
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ModelLoadError, match="cuda"):
        resolve_device("cuda")
    with pytest.raises(ModelLoadError, match="mps"):
        resolve_device("mps")


# Seconds per call of each precision, as a timer would report them on CPUs of different kinds.
MEASURED = {
    "AMX: bfloat16 wins": ({"float32": 4.0, "bfloat16": 1.0, "float16": 3.0}, "bfloat16"),
    "AVX512-BF16 without AMX: bfloat16 slower, float16 wins": (
        {"float32": 2.26, "bfloat16": 3.8, "float16": 1.9}, "float16"),
    "every other precision slower": ({"float32": 1.0, "bfloat16": 1.7, "float16": 1.2}, "float32"),
    "a win within the noise": ({"float32": 1.0, "bfloat16": 0.95, "float16": 1.5}, "float32"),
}


def _table_timer(table, calls):
    def timer(run, precision):
        run()  # the layer in that precision must really run
        calls.append(precision)
        if table[precision] is None:
            raise RuntimeError("this precision is missing an op")
        return table[precision] / 1000
    return timer


@pytest.fixture(scope="module")
def unpacked(tiny_model_dir):
    """The tiny model as Classifier.load has it when it chooses: loaded, not yet converted or packed."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    return (AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval(),
            AutoImageProcessor.from_pretrained(tiny_model_dir, backend="pil"))


@pytest.mark.parametrize("case", MEASURED)
def test_fast_precision_is_the_measured_fastest(unpacked, tmp_path, case):
    table, expected = MEASURED[case]
    calls = []
    choice = fast_precision(*unpacked, torch.device("cpu"), cache_file=tmp_path / "precision.json",
                            timer=_table_timer(table, calls),
                            candidates=list(table))
    assert choice.name == expected, choice
    assert choice.source == "medida"
    assert set(calls) == set(table)  # every precision was timed, not one read from a flag
    assert choice.seconds[expected] <= choice.seconds["float32"]


def test_fast_precision_is_never_slower_than_float32(unpacked, tmp_path):
    rng = np.random.default_rng(0)
    (model, processor), cpu = unpacked, torch.device("cpu")
    for trial in range(40):
        table = {name: float(rng.uniform(0.5, 2.0)) for name in ("float32", "bfloat16", "float16")}
        if trial % 4 == 0:
            table["bfloat16"] = None  # fails on this CPU
        choice = fast_precision(model, processor, cpu, cache_file=tmp_path / f"{trial}.json",
                                timer=_table_timer(table, []), candidates=list(table))
        usable = {name: value for name, value in table.items() if value is not None}
        fastest = min(usable.values())
        assert usable[choice.name] <= table["float32"], (table, choice)
        if fastest * CLEAR_WIN <= table["float32"]:  # something clearly faster: a clear winner, near the fastest
            assert usable[choice.name] * CLEAR_WIN <= table["float32"], (table, choice)
            assert usable[choice.name] <= fastest * CLEAR_WIN, (table, choice)
        else:
            assert choice.name == "float32", (table, choice)


def test_near_ties_go_to_the_more_exact_precision(unpacked, tmp_path):
    table = {"float32": 2.0, "float16": 1.05, "bfloat16": 1.0}
    choice = fast_precision(*unpacked, torch.device("cpu"), cache_file=tmp_path / "precision.json",
                            timer=_table_timer(table, []),
                            candidates=list(table))
    assert choice.name == "float16"


def test_fast_precision_on_a_gpu_is_float16_without_timing(unpacked):
    def timer(run, precision):
        raise AssertionError("nothing is timed on a GPU")

    choice = fast_precision(*unpacked, torch.device("cuda"), timer=timer)
    assert choice == PrecisionChoice("float16", {}, "fija")


def test_default_model_is_pinned_to_the_safetensors_commit(monkeypatch):
    seen = {}

    def fake_folder(model, revision, progress):
        seen.update(model=model, revision=revision)
        raise ModelLoadError("stop here")

    monkeypatch.setattr("classifier.hub.locate.model_folder", fake_folder)
    with pytest.raises(ModelLoadError):
        Classifier.load()
    assert seen == {"model": "google/vit-base-patch16-224", "revision": "3f49326eb077187dfe1c2a2bb15fbd74e6ab91e3"}
    with pytest.raises(ModelLoadError):
        Classifier.load("someone/other-vit")
    assert seen["revision"] is None
