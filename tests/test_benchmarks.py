"""The benchmark's comparisons run against the current engine: a tiny model, small pictures.

Its figures mean nothing at this size; what is checked is that each comparison still
runs through the program's own route and that the exact mode agrees with the pipeline.
"""

import argparse
import re

from PIL import Image

from benchmarks.run import Bench
from classifier.model import Classifier


def test_benchmark_comparisons_run_on_the_engine(tiny_model_dir, tmp_path, reference):
    photos = []
    for index, colour in enumerate(("#c04020", "#2080c0", "#40a040")):
        path = tmp_path / f"foto_{index}.jpg"
        Image.new("RGB", (160 + 20 * index, 120), colour).save(path, quality=90)
        photos.append(path)
    small = tmp_path / "pequena.png"
    Image.new("RGB", (64, 48), "#808000").save(small)
    args = argparse.Namespace(quick=True, device="cpu")
    bench = Bench(args, str(tiny_model_dir), photos, small)
    exact = Classifier.load(str(tiny_model_dir), device="cpu")
    fast = Classifier.load(str(tiny_model_dir), device="cpu", fast=True)

    bench.warm(exact, fast, reference)
    bench.throughput(exact, fast, reference)
    bench.agreement(exact, fast, reference)
    bench.attention_map(exact)

    measures = [row[0] for row in bench.rows]
    assert len(measures) == 9, measures
    gap = re.search(r"diferencia máxima de probabilidad (\S+) en", bench.notes[0])
    assert float(gap.group(1)) < 1e-5, bench.notes[0]
    assert "| Medida |" in bench.table()
