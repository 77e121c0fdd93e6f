"""The benchmark's comparisons run against the current engine: a tiny model, small pictures.

Its figures mean nothing at this size; what is checked is that each comparison still
runs through the program's own route and that the exact mode agrees with the pipeline.
"""

import argparse
import re

from PIL import Image
from transformers import pipeline

from benchmarks.run import Bench, interleaved, machine
from classifier.model import Classifier
from conftest import TINY_LABELS, build_tiny_model

# Two classes with one name, as ImageNet's two "crane": the pipeline tells them apart only by score.
REPEATED_LABELS = [*TINY_LABELS[:-1], TINY_LABELS[0]]


def _bench(model, tmp_path):
    photos = []
    for index, colour in enumerate(("#c04020", "#2080c0", "#40a040")):
        path = tmp_path / f"foto_{index}.jpg"
        Image.new("RGB", (160 + 20 * index, 120), colour).save(path, quality=90)
        photos.append(path)
    small = tmp_path / "pequena.png"
    Image.new("RGB", (64, 48), "#808000").save(small)
    return Bench(argparse.Namespace(quick=True, device="cpu"), str(model), photos, small)


def _gap(bench):
    return float(re.search(r"diferencia máxima de probabilidad (\S+) en", bench.notes[0]).group(1))


def test_benchmark_comparisons_run_on_the_engine(tmp_path):
    model = build_tiny_model(tmp_path / "model", labels=REPEATED_LABELS)
    bench = _bench(model, tmp_path)
    exact = Classifier.load(str(model), device="cpu")
    fast = Classifier.load(str(model), device="cpu", fast=True)
    pipe = pipeline("image-classification", model=str(model), device="cpu")

    bench.warm(exact, fast, pipe)
    bench.throughput(exact, fast, pipe)
    bench.fast_against_exact(exact, fast, count=3, runs=2)
    bench.agreement(exact, fast, pipe)
    bench.attention_map(exact)

    # The exact mode against the pipeline, each on its own: the same probabilities.
    assert _gap(bench) < 1e-5, bench.notes[0]
    assert "| Medida |" in bench.table()
    [fast_row] = [row for row in bench.rows if "modo rápido (" in row[0]]
    assert fast_row[0].startswith(f"3 JPEG de 12 MP (batch 8): modo rápido ({fast.precision.name}) frente a exacto")
    assert re.fullmatch(r"\d+\.\d{2}× / \d+\.\d{2}×", fast_row[3]), fast_row


def test_runs_take_turns_and_rows_give_best_and_median(tmp_path):
    order = []
    times = interleaved({name: lambda name=name: order.append(name) for name in "abc"}, runs=3, warmup=1)
    assert order == list("abc" "abc" "bca" "cab")  # the warm-up, then a different one first each round
    assert {name: len(seconds) for name, seconds in times.items()} == {"a": 3, "b": 3, "c": 3}

    bench = _bench("unused", tmp_path)
    assert bench.row("tiempo", [1.0, 3.0, 2.0], [4.0, 2.0, 8.0], "s") == (0.5, 0.5)
    assert bench.rows[-1][1:4] == ("1.000 / 2.000 s", "2.000 / 4.000 s", "0.50× / 0.50×")
    assert bench.row("imágenes por segundo", [10.0, 2.0, 4.0], [1.0, 2.0, 3.0], "img/s") == (10 / 3, 2.0)


def test_the_machine_line_names_the_features_that_decide_the_precision():
    line = machine()
    for feature in ("AVX512-BF16", "AMX", "AVX512-FP16", "VNNI"):
        assert re.search(rf"\b{feature} (sí|no)\b", line), line


def test_agreement_sees_a_different_model(tmp_path, tiny_model_dir):
    other = build_tiny_model(tmp_path / "other", seed=1)
    bench = _bench(tiny_model_dir, tmp_path)
    exact = Classifier.load(str(tiny_model_dir), device="cpu")
    bench.agreement(exact, exact, pipeline("image-classification", model=str(other), device="cpu"))
    assert _gap(bench) > 1e-3
