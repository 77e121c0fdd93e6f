"""This program against transformers.pipeline, side by side in one run: one command.

    python -m benchmarks.run [--quick] [--device cpu|cuda] [--model CARPETA]

Builds a full-size ViT-B/16 with random weights (the architecture and image-processor
settings of google/vit-base-patch16-224: the same compute) unless --model is given,
makes 32 twelve-megapixel JPEGs from the photos in images/, and prints a Markdown
table: cold start, warm latency, batch throughput, the fast mode against the exact
one, peak memory, --help time, achieved GFLOP/s against the measured matrix-multiply
peak, agreement of the fast mode, and the time until the file picker is on screen.

The machine is shared and noisy: the programs compared take turns, run after run
(interleaved), and each figure is given as the best run and the median run, with
the ratio of each. The CPU features that decide the fast mode's precision are printed.

    python -m benchmarks.run --solo-rapido   # only the fast mode against the exact one (a few minutes)
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from classifier.base.defaults import DEFAULT_TOP_K  # noqa: E402

PIPELINE_SCRIPT = textwrap.dedent("""
    import sys
    from transformers import pipeline

    device, model, batch_size, paths = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    pipe = pipeline("image-classification", model=model, device=device, trust_remote_code=False)
    for result in pipe(paths, batch_size=batch_size, top_k=7):
        print(result[0])
""")


# --- inputs ---------------------------------------------------------------------------------------


def make_photos(folder, count, size=(4000, 3000)):
    """count 12-megapixel JPEGs from the repository's photos, with sensor-like noise."""
    folder.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    sources = sorted((REPO / "images").glob("*.[jp][pn]g"))
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        path = folder / f"foto_{index:02d}.jpg"
        paths.append(path)
        if path.exists():
            continue
        base = Image.open(sources[index % len(sources)]).convert("RGB")
        if index // len(sources) % 2:
            base = base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        big = np.asarray(base.resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
        noisy = np.clip(big + rng.normal(0, 6, big.shape).astype(np.int16), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(path, quality=92)
    small = folder.parent / "pequena_640x480.png"
    if not small.exists():
        Image.open(sources[0]).convert("RGB").resize((640, 480), Image.Resampling.BICUBIC).save(small)
    return paths, small


# --- measuring ------------------------------------------------------------------------------------


def interleaved(functions, runs, warmup=1):
    """name -> seconds of each run; the functions take turns, and the first to go changes each round.

    On a shared machine a burst of load then slows one round of every function, not all
    the runs of one of them.
    """
    names = list(functions)
    for _ in range(warmup):
        for name in names:
            functions[name]()
    times = {name: [] for name in names}
    for round_ in range(runs):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            start = time.perf_counter()
            functions[name]()
            times[name].append(time.perf_counter() - start)
    return times


def per_second(count, times):
    return [count / seconds for seconds in times]


# A small go-between: a child forked straight from this big process would start with
# our memory counted in its peak RSS.
LAUNCHER = textwrap.dedent("""
    import resource, subprocess, sys, time
    start = time.perf_counter()
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
""")


def run_process(command):
    """(seconds, peak RSS in MiB) of one whole process."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed: {done.stderr[-500:]}")
    seconds, peak_kib = done.stdout.split()
    return float(seconds), int(peak_kib) / 1024


def interleaved_processes(commands, runs):
    """name -> seconds of each whole process run, the commands taking turns."""
    times = {name: [] for name in commands}
    names = list(commands)
    for round_ in range(runs):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            times[name].append(run_process(commands[name])[0])
    return times


def forward_flops(config):
    """Multiply-adds of one ViT forward pass, times two: the matrix products only."""
    height, width = (config.image_size,) * 2 if isinstance(config.image_size, int) else config.image_size
    patches = (height // config.patch_size) * (width // config.patch_size)
    tokens, hidden, inner = patches + 1, config.hidden_size, config.intermediate_size
    embed = patches * hidden * 3 * config.patch_size**2
    attention = 4 * tokens * hidden * hidden + 2 * tokens * tokens * hidden
    mlp = 2 * tokens * hidden * inner
    head = hidden * config.num_labels
    return 2 * (embed + config.num_hidden_layers * (attention + mlp) + head)


def matmul_peak(precision, device):
    """Best GFLOP/s seen over square products and a ViT-sized linear layer: the ceiling."""
    import torch
    from torch import nn

    from classifier.model.precision import DTYPES, apply_precision

    dtype = DTYPES[precision]
    best = 0.0
    for size in (1024, 2048, 3072):
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        product = lambda a=a, b=b: _sync(a @ b, device)  # noqa: E731
        seconds = min(interleaved({"x": product}, runs=5, warmup=2)["x"])
        best = max(best, 2 * size**3 / seconds / 1e9)
    if device == "cpu":
        layer = nn.Sequential(nn.Linear(768, 3072))
        apply_precision(layer, precision, torch.device("cpu"))
        x = torch.randn(1576, 768, dtype=dtype)
        with torch.inference_mode():
            seconds = min(interleaved({"x": lambda: layer(x)}, runs=10, warmup=3)["x"])
        best = max(best, 2 * 1576 * 768 * 3072 / seconds / 1e9)
    return best


def _sync(value, device):
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
    return value


# --- the comparisons ------------------------------------------------------------------------------


class Bench:
    def __init__(self, args, model, photos, small):
        self.args, self.model, self.photos, self.small = args, model, photos, small
        self.rows = []  # (measure, ours, reference, ratio text, target)
        self.notes = []
        self.runs = 3 if args.quick else 7

    def row(self, measure, ours, reference, unit, target=""):
        """ours, reference: one figure per run. Returns the ratios (best run's, median run's).

        The best run is the fastest: the smallest time or memory, the largest img/s.
        """
        best = max if unit == "img/s" else min
        ours_best, reference_best = best(ours), best(reference)
        ours_median, reference_median = statistics.median(ours), statistics.median(reference)
        ratios = ours_best / reference_best, ours_median / reference_median
        self.rows.append((measure, f"{ours_best:.3f} / {ours_median:.3f} {unit}",
                          f"{reference_best:.3f} / {reference_median:.3f} {unit}",
                          f"{ratios[0]:.2f}× / {ratios[1]:.2f}×", target))
        print(f"  {measure} (mejor / mediana de {len(ours)}): {ours_best:.3f} / {ours_median:.3f} {unit} frente a "
              f"{reference_best:.3f} / {reference_median:.3f} {unit} = {ratios[0]:.2f}× / {ratios[1]:.2f}×", flush=True)
        return ratios

    def load(self, fast):
        from classifier.model import Classifier

        return Classifier.load(self.model, device=self.args.device, fast=fast)

    def pipeline(self):
        from transformers import pipeline

        return pipeline("image-classification", model=self.model, device=self.args.device, trust_remote_code=False)

    def ours_single(self, classifier, path, top_k=DEFAULT_TOP_K, maps=False):
        """One picture through the engine (Engine.classify, as each pick of the desktop)."""
        from classifier.engine.classifying import Engine

        result = Engine(classifier, top_k, maps=maps).classify(str(path))
        assert result.error is None, result.error
        return result

    def ours_batch(self, classifier, paths):
        from classifier.engine.classifying import Engine

        results = list(Engine(classifier, DEFAULT_TOP_K).run([(str(p), None) for p in paths], batch_size=8))
        assert all(r.error is None for r in results)
        return results

    def help_time(self):
        times = interleaved_processes({"help": [sys.executable, "script_modelo.py", "--help"]}, runs=10)["help"]
        best, median = min(times), statistics.median(times)
        self.rows.append(("`--help`", f"{best:.3f} / {median:.3f} s", "—", "—", "< 0,3 s"))
        print(f"  --help (mejor / mediana): {best:.3f} / {median:.3f} s", flush=True)

    def cold_start(self, scratch):
        script = scratch / "pipeline_script.py"
        script.write_text(PIPELINE_SCRIPT)
        one = str(self.photos[0])
        times = interleaved_processes({
            "ours": [sys.executable, "script_modelo.py", "--model", self.model, "--device", self.args.device, one],
            "theirs": [sys.executable, str(script), self.args.device, self.model, "1", one],
        }, self.runs // 2 + 1)
        self.row("arranque en frío, 1 JPEG de 12 MP (proceso completo)", times["ours"], times["theirs"], "s")
        return script

    def memory(self, script):
        """Peak RSS of whole processes, ours against the pipeline's, for small and large batches."""
        ours = [sys.executable, "script_modelo.py", "--model", self.model, "--device", self.args.device,
                "--format", "json"]
        runs = 1 if self.args.quick else 3  # peaks vary by 10 MiB or so from run to run: medians, interleaved
        for count in sorted({1, 4, min(12, len(self.photos)), len(self.photos)}):
            photos = list(map(str, self.photos[:count]))
            modes = {"exacto": [*ours, *photos]}
            if count == len(self.photos):
                modes["rápido"] = [*ours, "--rapido", *photos]
            peaks = {"pipeline": [], **{mode: [] for mode in modes}}
            for _ in range(runs):
                peaks["pipeline"].append(run_process([sys.executable, str(script), self.args.device, self.model, "8",
                                                      *photos])[1])
                for mode, command in modes.items():
                    peaks[mode].append(run_process(command)[1])
            for mode in modes:
                self.row(f"memoria máxima (RSS), {count} JPEG de 12 MP, modo {mode}", peaks[mode],
                         peaks["pipeline"], "MiB", "≤ 1×")

    def warm(self, exact, fast, pipe):
        for label, path in (("JPEG de 12 MP", self.photos[0]), ("PNG de 640×480", self.small)):
            times = interleaved({
                "theirs": lambda p=path: pipe(str(p), top_k=DEFAULT_TOP_K),
                "ours": lambda p=path: self.ours_single(exact, p),
                "quick": lambda p=path: self.ours_single(fast, p),
            }, self.runs)
            big = "12 MP" in label
            self.row(f"latencia en caliente, {label}, modo exacto", times["ours"], times["theirs"], "s",
                     "≤ 0,75×" if big else "")
            self.row(f"latencia en caliente, {label}, modo rápido", times["quick"], times["theirs"], "s",
                     "≤ 0,35×" if big else "")

    def throughput(self, exact, fast, pipe):
        paths = [str(p) for p in self.photos]
        times = interleaved({
            "theirs": lambda: list(pipe(paths, batch_size=8, top_k=DEFAULT_TOP_K)),
            "ours": lambda: self.ours_batch(exact, paths),
            "quick": lambda: self.ours_batch(fast, paths),
        }, 1 if self.args.quick else 2, warmup=0)
        theirs = per_second(len(paths), times["theirs"])
        label = f"lote de {len(paths)} JPEG de 12 MP (batch 8)"
        self.row(f"{label}, modo exacto", per_second(len(paths), times["ours"]), theirs, "img/s", "≥ 1,5×")
        self.row(f"{label}, modo rápido", per_second(len(paths), times["quick"]), theirs, "img/s", "≥ 3×")

    def fast_against_exact(self, exact, fast, count=12, runs=4):
        """The fast mode's speed-up over the exact mode: count 12-megapixel photos, runs interleaved runs each."""
        paths = [str(p) for p in self.photos[:count]]
        times = interleaved({"exact": lambda: self.ours_batch(exact, paths),
                             "fast": lambda: self.ours_batch(fast, paths)}, runs, warmup=0)
        return self.row(f"{len(paths)} JPEG de 12 MP (batch 8): modo rápido ({fast.precision.name}) frente a exacto",
                        per_second(len(paths), times["fast"]), per_second(len(paths), times["exact"]), "img/s",
                        "≥ 1,15×")

    def agreement(self, exact, fast, pipe):
        paths = [*self.photos, self.small, *sorted((REPO / "images").glob("*.[jp][pn]g"))]
        same_top1, fast_gap, exact_gap = 0, 0.0, 0.0
        # The pipeline names classes by the model's own labels, and some repeat (ImageNet's two
        # "crane"): each label's scores are compared as sorted lists.
        ids = {}
        for index, label in exact.model.config.id2label.items():
            ids.setdefault(str(label), []).append(int(index))
        for path in paths:
            full_exact, full_fast = self._all_scores(exact, path), self._all_scores(fast, path)
            theirs = {}
            for r in pipe(str(path), top_k=exact.num_labels):
                theirs.setdefault(r["label"], []).append(r["score"])
            for label, scores in theirs.items():
                ours = sorted(full_exact[i] for i in ids[label])
                exact_gap = max(exact_gap, *(abs(a - b) for a, b in zip(sorted(scores), ours, strict=True)))
            same_top1 += int(np.argmax(full_exact) == np.argmax(full_fast))
            fast_gap = max(fast_gap, float(np.abs(full_exact - full_fast).max()))
        self.notes.append(f"Modo exacto frente a `pipeline`: diferencia máxima de probabilidad {exact_gap:.1e} "
                          f"en {len(paths)} imágenes (todas las clases).")
        self.notes.append(f"Modo rápido frente a exacto: top-1 igual en {same_top1} de {len(paths)} imágenes; "
                          f"diferencia máxima de probabilidad {fast_gap:.1e}.")
        print("  " + "\n  ".join(self.notes[-2:]), flush=True)

    def _all_scores(self, classifier, path):
        """Every class's probability, indexed by class id, as the program computes them."""
        scores = np.zeros(classifier.num_labels)
        for prediction in self.ours_single(classifier, path, top_k=classifier.num_labels).predictions:
            scores[prediction.id] = prediction.score
        return scores

    def attention_map(self, exact):
        """The map's extra cost per image, and proof that runs without it did not slow down."""
        photo = str(self.photos[0])

        def with_map():
            assert self.ours_single(exact, photo, maps=True).heatmap is not None

        before = interleaved({"before": lambda: self.ours_single(exact, photo)}, self.runs)["before"]
        picture = interleaved({"mapped": with_map, "plain": lambda: self.ours_single(exact, photo)}, self.runs)
        from PIL import Image

        pixels = exact.preprocess(Image.new("RGB", exact.draft_size))
        forward = interleaved({"mapped": lambda: exact.probabilities_and_maps(pixels),
                               "plain": lambda: exact.probabilities(pixels)}, self.runs)
        self.row("mapa de atención: 1 JPEG de 12 MP con mapa frente a sin mapa", picture["mapped"], picture["plain"],
                 "s")
        self.row("mapa de atención: solo el forward, con mapa frente a sin mapa", forward["mapped"], forward["plain"],
                 "s")
        self.row("sin mapa, después de pedir mapas frente a antes (no se ralentiza)", picture["plain"], before, "s",
                 "≈ 1×")
        extra = statistics.median(picture["mapped"]) - statistics.median(picture["plain"])
        extra_forward = statistics.median(forward["mapped"]) - statistics.median(forward["plain"])
        self.notes.append(f"Coste extra del mapa por imagen (medianas): {extra * 1000:.0f} ms "
                          f"({extra_forward * 1000:.0f} ms en el forward).")

    def gflops(self, exact, fast):
        import torch

        flops = forward_flops(exact.model.config)
        device = self.args.device
        width, height = exact.draft_size
        pixels = torch.randn(8, 3, height, width)
        fast_name = fast.precision.name if fast.precision is not None else "float32"
        modes = {"float32": exact} if fast_name == "float32" else {"float32": exact, fast_name: fast}
        times = interleaved({label: lambda c=classifier: _sync(c.probabilities(pixels), device)
                             for label, classifier in modes.items()}, self.runs, 2)
        for label in modes:
            seconds = min(times[label]) / 8
            achieved = flops / seconds / 1e9
            peak = matmul_peak(label, device)
            share = achieved / peak
            self.rows.append((f"GFLOP/s del forward ({label}, batch 8, mejor de {self.runs}) frente al pico de "
                              f"matmul medido", f"{achieved:.0f} GFLOP/s", f"{peak:.0f} GFLOP/s (pico)", f"{share:.0%}",
                              "≥ 70 %" if label == "float32" else ""))
            print(f"  forward {label}: {seconds * 1000:.0f} ms/img, {achieved:.0f} GFLOP/s, "
                  f"pico {peak:.0f} GFLOP/s ({share:.0%})", flush=True)
        self.notes.append(f"Un forward de ViT-B/16 son {flops / 1e9:.1f} GFLOP (productos de matrices).")

    def picker(self):
        sys.path.insert(0, str(REPO / "tests"))
        import xdesktop
        from benchmarks.picker_latency import measure

        if xdesktop.available("openbox") is not None:
            self.notes.append(f"Selector de archivos: no medido ({xdesktop.available('openbox')}).")
            return
        results = measure(self.model, 3 if self.args.quick else 5)
        *ours, theirs = results.items()
        for name, values in ours:
            self.row(f"del arranque al selector de archivos en pantalla (Xvfb con openbox), {name.split(', ')[1]}",
                     values, theirs[1], "s", "< 0,7 s")

    def table(self):
        lines = ["| Medida | Este programa (mejor / mediana) | Referencia (mejor / mediana) | Razón (mejor / mediana) "
                 "| Objetivo |", "|---|---|---|---|---|"]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        return "\n".join(lines + [""] + [f"- {note}" for note in self.notes])


def machine():
    import PIL
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from classifier.model.precision import cpu_features

    flags = ", ".join(f"{name} {'sí' if present else 'no'}" for name, present in cpu_features().items())
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", sin GPU"
    return (f"{cpu}, {os.cpu_count()} núcleos ({flags}){gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} hilos, Pillow {PIL.__version__}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="menos repeticiones (por defecto: no)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="(por defecto: cpu)")
    parser.add_argument("--model", help="carpeta del modelo (por defecto: ViT-B/16 aleatorio temporal)")
    parser.add_argument("--skip-picker", action="store_true", help="no medir el selector (por defecto: medirlo)")
    parser.add_argument("--solo-memoria", action="store_true", help="medir solo la memoria (por defecto: todo)")
    parser.add_argument("--solo-rapido", action="store_true",
                        help="medir solo el modo rápido frente al exacto, 12 fotos (por defecto: todo)")
    parser.add_argument("--rondas", type=int, default=4,
                        help="ejecuciones intercaladas del modo rápido frente al exacto (por defecto: 4)")
    args = parser.parse_args()

    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from benchmarks.random_vit import given_or_random_vit
    from classifier.model.precision import describe_choice

    with tempfile.TemporaryDirectory() as scratch, given_or_random_vit(args.model) as model:
        scratch, args.model = Path(scratch), model
        folder = REPO / "benchmarks" / "out" / "fotos_12mp"
        photos, small = make_photos(folder, 12 if args.quick or args.solo_rapido else 32)
        print(f"Máquina: {machine()}; transformers {transformers.__version__}", flush=True)
        bench = Bench(args, args.model, photos, small)
        if args.solo_memoria:
            script = scratch / "pipeline_script.py"
            script.write_text(PIPELINE_SCRIPT)
            bench.memory(script)
            print(bench.table())
            return
        if args.solo_rapido:
            exact, fast = bench.load(False), bench.load(True)
            bench.notes.append(describe_choice(fast.precision))
            bench.fast_against_exact(exact, fast, runs=args.rondas)
            print(f"\nMáquina: {machine()}\n\n{bench.table()}")
            return
        bench.help_time()
        script = bench.cold_start(scratch)
        exact, fast, pipe = bench.load(False), bench.load(True), bench.pipeline()
        bench.notes.append(describe_choice(fast.precision))
        bench.warm(exact, fast, pipe)
        bench.throughput(exact, fast, pipe)
        bench.fast_against_exact(exact, fast, runs=args.rondas)
        bench.agreement(exact, fast, pipe)
        bench.attention_map(exact)
        bench.gflops(exact, fast)
        del exact, fast, pipe
        bench.memory(script)
        if not args.skip_picker and args.device == "cpu":
            bench.picker()
    print()
    print(f"Máquina: {machine()}")
    print()
    print(bench.table())


if __name__ == "__main__":
    main()
