"""This program against transformers.pipeline, side by side in one run: one command.

    python -m benchmarks.run [--quick] [--device cpu|cuda] [--model CARPETA]

Builds a full-size ViT-B/16 with random weights (the architecture and image-processor
settings of google/vit-base-patch16-224: the same compute) unless --model is given,
makes 32 twelve-megapixel JPEGs from the photos in images/, and prints a Markdown
table of medians and ratios: cold start, warm latency, batch throughput, peak memory,
--help time, achieved GFLOP/s against the measured matrix-multiply peak, agreement
of the fast mode, and the time until the file picker is on screen.
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

from classifier.defaults import DEFAULT_TOP_K  # noqa: E402

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


def median_time(function, runs, warmup=1):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def median_process(command, runs):
    results = [run_process(command) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


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


def matmul_peak(dtype, device):
    """Best GFLOP/s seen over square products and a packed linear layer: the machine's ceiling."""
    import torch

    best = 0.0
    for size in (1024, 2048, 3072):
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        seconds = median_time(lambda a=a, b=b: _sync(a @ b, device), runs=5, warmup=2)
        best = max(best, 2 * size**3 / seconds / 1e9)
    if device == "cpu":
        from torch import nn

        from classifier.accel import pack_linear_layers

        layer = nn.Sequential(nn.Linear(768, 3072)).to(dtype)
        pack_linear_layers(layer)
        x = torch.randn(1576, 768, dtype=dtype)
        with torch.inference_mode():
            seconds = median_time(lambda: layer(x), runs=10, warmup=3)
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
        ratio = ours / reference
        self.rows.append((measure, f"{ours:.3f} {unit}", f"{reference:.3f} {unit}", f"{ratio:.2f}×", target))
        print(f"  {measure}: {ours:.3f} {unit} / {reference:.3f} {unit} = {ratio:.2f}×", flush=True)
        return ratio

    def load(self, fast):
        from classifier.model import Classifier

        return Classifier.load(self.model, device=self.args.device, fast=fast)

    def pipeline(self):
        from transformers import pipeline

        return pipeline("image-classification", model=self.model, device=self.args.device, trust_remote_code=False)

    def ours_single(self, classifier, path, top_k=DEFAULT_TOP_K, maps=False):
        """One picture through the engine (Engine.classify, as each pick of the desktop)."""
        from classifier.engine import Engine

        result = Engine(classifier, top_k, maps=maps).classify(str(path))
        assert result.error is None, result.error
        return result

    def ours_batch(self, classifier, paths):
        from classifier.engine import Engine

        results = list(Engine(classifier, DEFAULT_TOP_K).run([(str(p), None) for p in paths], batch_size=8))
        assert all(r.error is None for r in results)
        return results

    def help_time(self):
        seconds = median_process([sys.executable, "script_modelo.py", "--help"], runs=10)[0]
        self.rows.append(("`--help`", f"{seconds:.3f} s", "—", "—", "< 0,3 s"))
        print(f"  --help: {seconds:.3f} s", flush=True)

    def cold_start(self, scratch):
        script = scratch / "pipeline_script.py"
        script.write_text(PIPELINE_SCRIPT)
        one = str(self.photos[0])
        ours = median_process([sys.executable, "script_modelo.py", "--model", self.model, "--device",
                               self.args.device, one], self.runs // 2 + 1)
        theirs = median_process([sys.executable, str(script), self.args.device, self.model, "1", one],
                                self.runs // 2 + 1)
        self.row("arranque en frío, 1 JPEG de 12 MP (proceso completo)", ours[0], theirs[0], "s")
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
            theirs = statistics.median(peaks["pipeline"])
            for mode in modes:
                self.row(f"memoria máxima (RSS), {count} JPEG de 12 MP, modo {mode}", statistics.median(peaks[mode]),
                         theirs, "MiB", "≤ 1×")

    def warm(self, exact, fast, pipe):
        for label, path in (("JPEG de 12 MP", self.photos[0]), ("PNG de 640×480", self.small)):
            theirs = median_time(lambda p=path: pipe(str(p), top_k=DEFAULT_TOP_K), self.runs)
            ours = median_time(lambda p=path: self.ours_single(exact, p), self.runs)
            quick = median_time(lambda p=path: self.ours_single(fast, p), self.runs)
            big = "12 MP" in label
            self.row(f"latencia en caliente, {label}, modo exacto", ours, theirs, "s", "≤ 0,75×" if big else "")
            self.row(f"latencia en caliente, {label}, modo rápido", quick, theirs, "s", "≤ 0,35×" if big else "")

    def throughput(self, exact, fast, pipe):
        paths = [str(p) for p in self.photos]
        runs = 1 if self.args.quick else 2
        theirs = len(paths) / median_time(lambda: list(pipe(paths, batch_size=8, top_k=DEFAULT_TOP_K)), runs, 0)
        ours = len(paths) / median_time(lambda: self.ours_batch(exact, paths), runs, 0)
        quick = len(paths) / median_time(lambda: self.ours_batch(fast, paths), runs, 0)
        self.row("lote de 32 JPEG de 12 MP (batch 8), modo exacto", ours, theirs, "img/s", "≥ 1,5×")
        self.row("lote de 32 JPEG de 12 MP (batch 8), modo rápido", quick, theirs, "img/s", "≥ 3×")

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

        before = median_time(lambda: self.ours_single(exact, photo), self.runs)
        mapped = median_time(with_map, self.runs)
        after = median_time(lambda: self.ours_single(exact, photo), self.runs)
        from PIL import Image

        pixels = exact.preprocess(Image.new("RGB", exact.draft_size))
        forward = median_time(lambda: exact.probabilities(pixels), self.runs)
        forward_mapped = median_time(lambda: exact.probabilities_and_maps(pixels), self.runs)
        self.row("mapa de atención: 1 JPEG de 12 MP con mapa frente a sin mapa", mapped, before, "s")
        self.row("mapa de atención: solo el forward, con mapa frente a sin mapa", forward_mapped, forward, "s")
        self.row("sin mapa, después de pedir mapas frente a antes (no se ralentiza)", after, before, "s", "≈ 1×")
        self.notes.append(f"Coste extra del mapa por imagen: {(mapped - before) * 1000:.0f} ms "
                          f"({(forward_mapped - forward) * 1000:.0f} ms en el forward).")

    def gflops(self, exact, fast):
        import torch

        flops = forward_flops(exact.model.config)
        device = self.args.device
        width, height = exact.draft_size
        pixels = torch.randn(8, 3, height, width)
        for label, classifier in (("fp32", exact), (str(fast.dtype).replace("torch.", ""), fast)):
            if label == "fp32" and classifier is fast:
                continue
            seconds = median_time(lambda c=classifier: _sync(c.probabilities(pixels), device), self.runs, 2) / 8
            achieved = flops / seconds / 1e9
            peak = matmul_peak(classifier.dtype, device)
            share = achieved / peak
            self.rows.append((f"GFLOP/s del forward ({label}, batch 8) frente al pico de matmul medido",
                              f"{achieved:.0f} GFLOP/s", f"{peak:.0f} GFLOP/s (pico)", f"{share:.0%}",
                              "≥ 70 %" if label == "fp32" else ""))
            print(f"  forward {label}: {seconds * 1000:.0f} ms/img, {achieved:.0f} GFLOP/s, "
                  f"pico {peak:.0f} GFLOP/s ({share:.0%})", flush=True)
        self.notes.append(f"Un forward de ViT-B/16 son {flops / 1e9:.1f} GFLOP (productos de matrices).")

    def picker(self):
        sys.path.insert(0, str(REPO / "tests"))
        import xdesktop
        from benchmarks.picker_latency import measure

        if xdesktop.available() is not None:
            self.notes.append(f"Selector de archivos: no medido ({xdesktop.available()}).")
            return
        results = measure(self.model, 3 if self.args.quick else 5)
        ours, theirs = (statistics.median(v) for v in results.values())
        self.row("del arranque al selector de archivos en pantalla (Xvfb)", ours, theirs, "s", "< 0,7 s")

    def table(self):
        lines = ["| Medida | Este programa | `pipeline` (referencia) | Razón | Objetivo |", "|---|---|---|---|---|"]
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
    flags = []
    if torch.cpu._is_avx512_bf16_supported():
        flags.append("AVX512-BF16")
    if torch.cpu._is_amx_tile_supported():
        flags.append("AMX")
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", sin GPU"
    return (f"{cpu}, {os.cpu_count()} núcleos ({', '.join(flags) or 'sin bf16 nativo'}){gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} hilos, Pillow {PIL.__version__}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="menos repeticiones (por defecto: no)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="(por defecto: cpu)")
    parser.add_argument("--model", help="carpeta del modelo (por defecto: ViT-B/16 aleatorio temporal)")
    parser.add_argument("--skip-picker", action="store_true", help="no medir el selector (por defecto: medirlo)")
    parser.add_argument("--solo-memoria", action="store_true", help="medir solo la memoria (por defecto: todo)")
    args = parser.parse_args()

    import transformers
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    from benchmarks.random_vit import given_or_random_vit

    with tempfile.TemporaryDirectory() as scratch, given_or_random_vit(args.model) as model:
        scratch, args.model = Path(scratch), model
        folder = REPO / "benchmarks" / "out" / "fotos_12mp"
        photos, small = make_photos(folder, 8 if args.quick else 32)
        print(f"Máquina: {machine()}; transformers {transformers.__version__}", flush=True)
        bench = Bench(args, args.model, photos, small)
        if args.solo_memoria:
            script = scratch / "pipeline_script.py"
            script.write_text(PIPELINE_SCRIPT)
            bench.memory(script)
            print(bench.table())
            return
        bench.help_time()
        script = bench.cold_start(scratch)
        exact, fast, pipe = bench.load(False), bench.load(True), bench.pipeline()
        bench.warm(exact, fast, pipe)
        bench.throughput(exact, fast, pipe)
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
