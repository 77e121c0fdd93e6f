"""Packed oneDNN layers give the plain model's outputs; the fidelity gate refuses a model that answers
otherwise; the fast precision's cache survives damage."""

import json
import os

import pytest
import torch
from transformers import AutoModelForImageClassification

from benchmarks.fidelity import fidelity, load, photos, probabilities, views
from classifier.model.accel import PackedLinear, pack_linear_layers
from classifier.model.precision import PrecisionChoice, choose_precision, cpu_name, describe_choice
from conftest import float32_logit_tolerance


def _models(folder, dtype=torch.float32):
    plain = AutoModelForImageClassification.from_pretrained(folder).eval().to(dtype)
    packed = AutoModelForImageClassification.from_pretrained(folder).eval().to(dtype)
    return plain, packed


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this PyTorch has no oneDNN")
def test_every_linear_layer_is_packed_and_gelu_fused(tiny_model_dir):
    plain, packed = _models(tiny_model_dir)
    linear_count = sum(type(m) is torch.nn.Linear for m in plain.modules())
    assert pack_linear_layers(packed) == linear_count
    assert not any(type(m) is torch.nn.Linear for m in packed.modules())
    fused = [m for m in packed.modules() if isinstance(m, PackedLinear) and m.post_op == "gelu"]
    assert len(fused) == plain.config.num_hidden_layers
    pixels = torch.randn(3, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, actual = plain(pixel_values=pixels).logits, packed(pixel_values=pixels).logits
        features = plain.vit.layernorm(plain(pixel_values=pixels, output_hidden_states=True).hidden_states[-1])[:, 0]
    # Another kernel, another summing order: float32's bound, not one CPU's rounding (rtol and atol
    # of 1e-5 left 1e-5 to 5e-5 by the logit's size, and an AMD CPU without AMX already used 37 % of
    # it: 7.6e-6). Longest reduction: the MLP's 64 inputs. Here 2.7e-4.
    tolerance = float32_logit_tolerance(plain.classifier.weight, plain.classifier.bias, features,
                                        reduction=plain.config.intermediate_size)
    torch.testing.assert_close(actual, expected, rtol=0, atol=tolerance)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this PyTorch has no oneDNN")
def test_bfloat16_packing_matches_plain_bfloat16(tiny_model_dir):
    plain, packed = _models(tiny_model_dir, torch.bfloat16)
    assert pack_linear_layers(packed) > 0
    pixels = torch.randn(2, 3, 32, 48, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    with torch.inference_mode():
        expected = plain(pixel_values=pixels).logits.float().softmax(-1)
        actual = packed(pixel_values=pixels).logits.float().softmax(-1)
    assert (actual - expected).abs().max() < 2e-2


def test_a_layer_whose_packed_op_fails_stays_plain(monkeypatch, tiny_model_dir):
    def broken(self, x):
        raise RuntimeError("oneDNN op missing")

    monkeypatch.setattr(PackedLinear, "forward", broken)
    plain, packed = _models(tiny_model_dir)
    assert pack_linear_layers(packed) == 0
    pixels = torch.randn(1, 3, 32, 48)
    with torch.inference_mode():
        assert torch.equal(plain(pixel_values=pixels).logits, packed(pixel_values=pixels).logits)


def test_a_packed_layer_that_disagrees_is_refused(monkeypatch, tiny_model_dir):
    original = PackedLinear.forward
    monkeypatch.setattr(PackedLinear, "forward", lambda self, x: original(self, x) * 1.01)
    _, packed = _models(tiny_model_dir)
    assert pack_linear_layers(packed) == 0


# --- the fidelity gate (benchmarks/fidelity.py), on the trained EfficientNet-Lite0 ------------------


@pytest.fixture(scope="module")
def gate(trained_model_dir):
    """The exact classifier, the gate's pixels (images/ and views of them), and the exact probabilities."""
    exact = load(trained_model_dir, None)
    pixels = torch.cat([exact.preprocess(picture) for picture in views(photos())])
    return exact, pixels, probabilities(exact, pixels)


def test_the_fidelity_gate_fails_a_model_that_answers_otherwise(gate):
    _, _, reference = gate
    # Each picture's scores moved to the neighbouring class: what a precision that broke the model would do.
    result = fidelity(reference, reference.roll(1, dims=1))
    assert not result.passes and result.same_top1 == 0 and result.max_shift > 0.1, result.sentence()
    assert fidelity(reference, reference).sentence().startswith("top-1 igual en 30 de 30 (100,0%)")


# --- the precision cache ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unpacked(tiny_model_dir):
    """The tiny model as Classifier.load has it when it chooses, and a picture's pixels."""
    model = AutoModelForImageClassification.from_pretrained(tiny_model_dir).eval()
    return model, torch.rand(1, 3, 32, 48)


def _choose(unpacked, cache_file, table=None, calls=None):
    table = table or {"float32": 2.0, "bfloat16": 1.0}

    def timer(run, precision):
        if calls is not None:
            calls.append(precision)
        return table[precision]

    return choose_precision(*unpacked, torch.device("cpu"), cache_file=cache_file, timer=timer,
                            candidates=list(table))


def test_the_choice_is_cached_and_not_measured_again(unpacked, tmp_path):
    cache = tmp_path / "sub" / "precision.json"
    first = _choose(unpacked, cache)
    assert first.name == "bfloat16" and first.source == "medida"
    calls = []
    second = _choose(unpacked, cache, calls=calls)
    assert calls == [] and second == first._replace(source="caché")
    [key] = json.loads(cache.read_text(encoding="utf-8"))
    assert cpu_name() in key and f"torch {torch.__version__}" in key


def test_a_win_faked_by_a_burst_of_load_is_neither_used_nor_cached(unpacked, tmp_path):
    cache = tmp_path / "precision.json"
    turns = []

    def timer(run, precision):  # float32's first seven turns (warm-up and measured) run under a burst of load
        turns.append(precision)
        slow = precision == "float32" and turns.count("float32") <= 7
        return {"float32": 100.0 if slow else 1.0, "bfloat16": 1.5}[precision]

    choice = choose_precision(*unpacked, torch.device("cpu"), cache_file=cache, timer=timer,
                              candidates=["float32", "bfloat16"])
    assert choice.name == "float32" and not cache.exists()
    # Where bfloat16 really wins, it wins both timings and is kept.
    assert _choose(unpacked, cache).name == "bfloat16" and cache.exists()


def test_another_torch_version_measures_again(unpacked, tmp_path, monkeypatch):
    cache = tmp_path / "precision.json"
    _choose(unpacked, cache)
    monkeypatch.setattr(torch, "__version__", "99.0.0")
    calls = []
    assert _choose(unpacked, cache, {"float32": 1.0, "bfloat16": 2.0}, calls).name == "float32"
    assert calls and len(json.loads(cache.read_text(encoding="utf-8"))) == 2


@pytest.mark.parametrize("content", ["{no json", "[1, 2]", "\"x\"", "{}"])
def test_a_damaged_cache_is_measured_again_and_rewritten(unpacked, tmp_path, content):
    cache = tmp_path / "precision.json"
    cache.write_text(content, encoding="utf-8")
    assert _choose(unpacked, cache).source == "medida"
    assert _choose(unpacked, cache).source == "caché"


def test_an_edited_cache_cannot_choose_a_precision_this_cpu_lacks(unpacked, tmp_path):
    cache = tmp_path / "precision.json"
    _choose(unpacked, cache)
    data = json.loads(cache.read_text(encoding="utf-8"))
    for entry in data.values():
        entry["precision"] = "float8"
    cache.write_text(json.dumps(data), encoding="utf-8")
    choice = _choose(unpacked, cache)
    assert (choice.name, choice.source) == ("bfloat16", "medida")


@pytest.mark.parametrize("seconds", [{"float32": 0, "bfloat16": 1.0}, {"float32": float("nan")},
                                     {"float32": "1"}, {"bogus": 1.0}, [1.0]])
def test_edited_figures_in_the_cache_are_measured_again(unpacked, tmp_path, seconds):
    cache = tmp_path / "precision.json"
    _choose(unpacked, cache)
    data = json.loads(cache.read_text(encoding="utf-8"))
    for entry in data.values():
        entry["seconds"] = seconds
    cache.write_text(json.dumps(data), encoding="utf-8")
    choice = _choose(unpacked, cache)
    assert choice.source == "medida" and describe_choice(choice)


@pytest.mark.parametrize("edit", [
    {"precision": "bfloat16", "seconds": {"float32": 0.01, "bfloat16": 0.02}},  # slower than float32 by its figures
    {"precision": "bfloat16", "seconds": {"float32": 0.01, "bfloat16": 0.0095}},  # no clear win
    {"precision": "float32", "seconds": {"float32": 0.02, "bfloat16": 0.01}},  # its figures choose bfloat16
    {"precision": "bfloat16", "seconds": {"float32": 0.01, "bfloat16": None}},  # a precision that did not run
])
def test_an_edited_cache_whose_own_figures_do_not_choose_its_precision_is_measured_again(unpacked, tmp_path, edit):
    cache = tmp_path / "precision.json"
    _choose(unpacked, cache)
    data = json.loads(cache.read_text(encoding="utf-8"))
    for entry in data.values():
        entry.update(edit)
    cache.write_text(json.dumps(data), encoding="utf-8")
    choice = _choose(unpacked, cache)  # the timer's figures: bfloat16 twice as fast
    assert (choice.name, choice.source) == ("bfloat16", "medida")
    assert describe_choice(choice).startswith("Modo rápido: precisión bfloat16, la más rápida ")


def test_detallado_never_calls_a_precision_the_fastest_when_its_figures_say_otherwise():
    kept = PrecisionChoice("float32", {"float32": 0.0197, "bfloat16": 0.0185}, "medida")
    assert describe_choice(kept) == (
        "Modo rápido: precisión float32, ninguna otra fue al menos un 10 % más rápida con las capas del modelo en "
        "esta CPU (float32 19,7 ms; bfloat16 18,5 ms, 1,06×; medido ahora).")
    tie = PrecisionChoice("float16", {"float32": 0.03, "bfloat16": 0.015, "float16": 0.016}, "caché")
    assert describe_choice(tie).startswith(
        "Modo rápido: precisión float16, casi tan rápida como bfloat16 y más exacta con las capas del modelo ")


def test_rapido_detallado_says_a_win_the_second_timing_did_not_confirm(tiny_model_dir, tmp_path, monkeypatch,
                                                                       capsys):
    from classifier.app.cli import main
    from classifier.model.precision import _ROUNDS, _WARMUP
    from conftest import PHOTOS

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setattr("classifier.model.precision.cpu_candidates", lambda: ["float32", "bfloat16"])
    turns = []

    def clock(run, precision):  # bfloat16 1,24× faster in the first timing, hardly at all in the second
        run()
        turns.append(precision)
        first = turns.count(precision) <= _WARMUP + _ROUNDS
        return {"float32": 0.0197 if first else 0.0190, "bfloat16": 0.0159 if first else 0.0188}[precision]

    monkeypatch.setattr("classifier.model.precision.clock", clock)
    assert main(["--modelo", str(tiny_model_dir), "--rapido", "--detallado", str(PHOTOS[0])]) == 0
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Modo rápido")]
    assert line.startswith("Modo rápido: bfloat16 pareció 1,24× más rápida que float32 "), line
    assert "pero una segunda medida no lo confirmó (" in line and line.endswith("): se usa float32 (medido ahora).")
    assert "la más rápida" not in line and "1,01×" in line
    assert not (tmp_path / "clasificador-vit" / "precision.json").exists()


def test_a_cache_that_is_a_pipe_or_unwritable_only_means_measuring(unpacked, tmp_path):
    pipe = tmp_path / "precision.json"
    os.mkfifo(pipe)
    assert _choose(unpacked, pipe).source == "medida"  # returns: the pipe was not read
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert _choose(unpacked, blocked / "precision.json").name == "bfloat16"  # its folder is a file


def test_detallado_says_the_choice_and_its_figures():
    choice = PrecisionChoice("bfloat16", {"float32": 0.0894, "bfloat16": 0.0408, "float16": None}, "medida")
    assert describe_choice(choice) == (
        "Modo rápido: precisión bfloat16, la más rápida con las capas del modelo en esta CPU "
        "(float32 89,4 ms; bfloat16 40,8 ms, 2,19×; float16 no disponible; medido ahora).")
    assert "guardado en caché" in describe_choice(choice._replace(source="caché"))


def test_rapido_detallado_says_the_precision_measured_then_cached(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from classifier.app.cli import main
    from conftest import PHOTOS

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    # Two precisions every CPU can run (bfloat16 emulated where not native): the sentence has figures to give.
    monkeypatch.setattr("classifier.model.precision.cpu_candidates", lambda: ["float32", "bfloat16"])
    sentences = []
    for _ in range(2):
        assert main(["--modelo", str(tiny_model_dir), "--rapido", "--detallado", str(PHOTOS[0])]) == 0
        err = capsys.readouterr().err.splitlines()
        # The whole of stderr: where it runs and the precision; no English «Loading weights» bar.
        assert [line.split(" ")[0] for line in err] == ["El", "Modo"], err
        sentences.append([line for line in err if line.startswith("Modo rápido")])
    [first], [second] = sentences
    assert first.startswith("Modo rápido: precisión ") and "float32 " in first and "medido ahora" in first
    assert second == first.replace("medido ahora", "medido en una ejecución anterior, guardado en caché")
    assert (tmp_path / "clasificador-vit" / "precision.json").is_file()
    assert main(["--modelo", str(tiny_model_dir), "--rapido", str(PHOTOS[0])]) == 0  # without --detallado: silent
    assert "Modo rápido" not in capsys.readouterr().err


def test_a_model_that_cannot_run_the_sample_stays_float32(unpacked, tmp_path):
    model, pixels = unpacked
    wrong = pixels[:, :2]  # two channels: the forward pass raises
    choice = choose_precision(model, wrong, torch.device("cpu"), cache_file=tmp_path / "p.json",
                              timer=lambda run, precision: 1.0, candidates=["float32", "bfloat16"])
    assert choice == PrecisionChoice("float32", {}, "fija")
    assert describe_choice(choice) == "Modo rápido: precisión float32 (no hay otra que medir en esta CPU; no se mide)."
