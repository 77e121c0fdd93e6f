"""The fast mode's precision, chosen by timing the model's own layers on this device.

Whether bfloat16 or float16 beats float32 on a CPU cannot be read from its feature
flags: a CPU with AVX512-BF16 but no AMX may run bfloat16 slower than float32 (AMD
Zen 4, many cloud VMs), another twice as fast. So the heaviest layer shapes of the
model are timed once in each precision the device offers, packed as the real run
packs them, and the fastest is kept; float32 stays unless another wins clearly. The
answer is cached per CPU (model name and features), torch version and layer shapes.
Nothing here prints.
"""

import hashlib
import json
import os
import platform
import stat
import tempfile
import time
from copy import deepcopy
from typing import NamedTuple

import torch
from torch import nn

from .accel import PackedLinear, int8_version, pack_linear_layers, quantize_linear_layers
from .defaults import config_folder

FLOAT32, BFLOAT16, FLOAT16, INT8 = "float32", "bfloat16", "float16", "int8"
# The dtype each precision runs the model in (int8 is float32 around its int8 linear layers).
DTYPES = {FLOAT32: torch.float32, BFLOAT16: torch.bfloat16, FLOAT16: torch.float16, INT8: torch.float32}
CLEAR_WIN = 1.10  # another precision replaces float32 only if the sampled layers run 10 % faster in it
# int8 passed the fidelity gate on the trained EfficientNet-Lite0 (docs/rendimiento.md): a candidate.
INT8_PASSED_GATE = True
SAMPLED_SHAPES = 3  # the layer shapes that take the most compute; a fraction of a second in all
_ROUNDS, _WARMUP = 5, 2
CACHE_FILE = "precision.json"
_CACHE_LIMIT = 256 * 1024
_CACHE_ENTRIES = 32  # a cache that grows with every model tried stays small


class PrecisionChoice(NamedTuple):
    name: str  # FLOAT32, BFLOAT16, FLOAT16 or INT8
    seconds: dict  # precision -> seconds of one forward through the sampled layers; None: unusable here
    source: str  # "medida" (timed now), "caché" (timed in an earlier run), "fija" (not timed: GPU)

    @property
    def dtype(self):
        return DTYPES[self.name]


def cpu_candidates():
    """The precisions this CPU and this PyTorch compute natively, float32 first."""
    candidates = [FLOAT32]
    mkldnn = torch.ops.mkldnn
    if torch.backends.mkldnn.is_available() and mkldnn._is_mkldnn_bf16_supported():
        candidates.append(BFLOAT16)
    if torch.backends.mkldnn.is_available() and mkldnn._is_mkldnn_fp16_supported():
        candidates.append(FLOAT16)
    if INT8_PASSED_GATE and (torch.cpu._is_vnni_supported() or torch.cpu._is_amx_tile_supported()):
        candidates.append(INT8)
    return candidates


def cpu_features():
    """The features that decide the fast precision, as the benchmark and --detallado name them."""
    checks = (("AVX512-BF16", torch.cpu._is_avx512_bf16_supported), ("AMX", torch.cpu._is_amx_tile_supported),
              ("AMX-FP16", torch.cpu._is_amx_fp16_supported), ("AVX512-FP16", _has_avx512_fp16),
              ("VNNI", torch.cpu._is_vnni_supported))
    return {name: bool(check()) for name, check in checks}


def _has_avx512_fp16():
    """PyTorch does not ask; Linux says it in /proc/cpuinfo (elsewhere: unknown, False)."""
    return "avx512_fp16" in _cpuinfo_field("flags").split()


def cpu_name():
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def _cpuinfo_field(field):
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.startswith(field) and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def pick(seconds, candidates):
    """The fastest usable precision; float32 unless another is at least CLEAR_WIN times faster."""
    reference = seconds.get(FLOAT32)
    if reference is None:
        return FLOAT32
    best = min((name for name in candidates if seconds.get(name) is not None), key=seconds.get, default=FLOAT32)
    return best if seconds[best] * CLEAR_WIN <= reference else FLOAT32


def choose_precision(model, sample, device, cache_file=None, timer=None, candidates=None):
    """The PrecisionChoice for this model on this device (from the cache when it has one).

    sample: pixel_values of one picture, as the model's processor makes them.
    timer(run, precision) -> seconds that one call of run() took; the default reads the clock.
    """
    if device.type != "cpu":
        return PrecisionChoice(FLOAT16, {}, "fija")  # GPUs compute float16 natively; not timed
    candidates = candidates or cpu_candidates()
    if candidates == [FLOAT32]:
        return PrecisionChoice(FLOAT32, {}, "fija")
    cache_file = cache_file or os.path.join(config_folder(), CACHE_FILE)
    key = _cache_key(model, candidates)
    cached = _read_cache(cache_file).get(key)
    if _valid_entry(cached, candidates):
        return PrecisionChoice(cached["precision"], cached["seconds"], "caché")
    seconds = time_precisions(heaviest_layers(model, sample), candidates, timer or clock)
    choice = PrecisionChoice(pick(seconds, candidates), seconds, "medida")
    _write_cache(cache_file, key, {"precision": choice.name, "seconds": seconds})
    return choice


def apply_precision(model, name, device, pack=True):
    """Move the model to device in precision name (None: the exact float32); returns its input dtype.

    pack: on a CPU, put the linear layers in oneDNN's packed layout (int8 has its own layers).
    """
    dtype = DTYPES[name or FLOAT32]
    model.to(device, dtype)
    if device.type == "cpu" and name == INT8:
        quantize_linear_layers(model)
    elif device.type == "cpu" and pack:
        pack_linear_layers(model)
    return dtype


class Layer(NamedTuple):
    module: nn.Module
    input_shape: tuple
    count: int  # how many layers of the model have this shape
    flops: int


def heaviest_layers(model, sample, limit=SAMPLED_SHAPES):
    """The Linear and Conv2d shapes that take the most compute in one forward of sample, heaviest first."""
    shapes = {}

    def record(module, args):
        if args and isinstance(args[0], torch.Tensor):
            key = (_describe(module), tuple(args[0].shape))
            entry = shapes.setdefault(key, [module, 0])
            entry[1] += 1

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if type(m) in (nn.Linear, nn.Conv2d)]
    try:
        with torch.inference_mode():
            model(pixel_values=sample.to(next(model.parameters()).dtype))
    finally:
        for hook in hooks:
            hook.remove()
    layers = [Layer(module, shape, count, _flops(module, shape)) for (_, shape), (module, count) in shapes.items()]
    return sorted(layers, key=lambda layer: layer.count * layer.flops, reverse=True)[:limit]


def _describe(module):
    if type(module) is nn.Linear:
        return ("Linear", module.in_features, module.out_features)
    return ("Conv2d", module.in_channels, module.out_channels, module.kernel_size, module.stride, module.groups)


def _flops(module, shape):
    if type(module) is nn.Linear:
        rows = 1
        for size in shape[:-1]:
            rows *= size
        return rows * module.in_features * module.out_features
    height, width = shape[-2] // module.stride[0], shape[-1] // module.stride[1]
    kernel = module.kernel_size[0] * module.kernel_size[1]
    return shape[0] * module.out_channels * height * width * kernel * module.in_channels // module.groups


def time_precisions(layers, candidates, timer, rounds=_ROUNDS):
    """precision -> seconds of one pass through the sampled layers (each times its count); None if it fails.

    The precisions take turns, round after round, and each layer keeps its best time: on a
    machine shared with other work, a burst of load then slows one round, not one precision.
    """
    runners = {}
    for name in candidates:
        try:
            runners[name] = [(layer.count, _layer_runner(layer, name)) for layer in layers]
        except (RuntimeError, ValueError, TypeError):  # an op this build or CPU lacks in that precision
            runners[name] = None
    best = {name: [float("inf")] * len(layers) for name, runs in runners.items() if runs is not None}
    for round_ in range(_WARMUP + rounds):
        for name in list(best):
            try:
                for index, (_, run) in enumerate(runners[name]):
                    seconds = float(timer(run, name))
                    if round_ >= _WARMUP:
                        best[name][index] = min(best[name][index], seconds)
            except (RuntimeError, ValueError, TypeError):
                runners[name] = None
                del best[name]
    return {name: None if runners[name] is None else
            sum(count * seconds for (count, _), seconds in zip(runners[name], best[name], strict=True))
            for name in candidates}


def _layer_runner(layer, name):
    """A call of a copy of the layer in the given precision, as the loaded model will run it."""
    dtype = DTYPES[name]
    module = deepcopy(layer.module).to(dtype)
    if name == INT8:
        module = int8_version(module) or module
    elif type(module) is nn.Linear and torch.backends.mkldnn.is_available():
        module = PackedLinear(module, rows_hint=_rows(layer.input_shape))
    x = torch.randn(layer.input_shape, generator=torch.Generator().manual_seed(0)).to(dtype)

    def run():
        with torch.inference_mode():
            return module(x)

    run()  # fails here, not inside the timer, if this precision lacks the op
    return run


def _rows(shape):
    rows = 1
    for size in shape[:-1]:
        rows *= size
    return max(rows, 1)


def clock(run, precision=None):
    """Seconds one call of run() takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# --- the cache ------------------------------------------------------------------------------------


def _cache_key(model, candidates):
    """CPU (name and features), torch version, candidates, and the shapes of the model's layers."""
    features = ",".join(name for name, present in cpu_features().items() if present)
    shapes = repr([_describe(m) for m in model.modules() if type(m) in (nn.Linear, nn.Conv2d)])
    digest = hashlib.sha256(shapes.encode()).hexdigest()[:16]
    return f"{cpu_name()} [{features}] | torch {torch.__version__} | {'/'.join(candidates)} | capas {digest}"


def _valid_entry(entry, candidates):
    """A cached answer is used only if it is one this CPU can still run: the file may have been edited."""
    if not isinstance(entry, dict) or entry.get("precision") not in candidates:
        return False
    seconds = entry.get("seconds")
    return isinstance(seconds, dict) and all(
        isinstance(name, str) and (value is None or isinstance(value, (int, float))) for name, value in seconds.items()
    )


def _read_cache(path):
    """The cache's entries; {} when there is none or it is not a small JSON file (a pipe never blocks)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as file:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode) or info.st_size > _CACHE_LIMIT:
                return {}
            data = json.loads(file.read(_CACHE_LIMIT).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}  # none yet, or damaged: measure again
    return data if isinstance(data, dict) else {}


def _write_cache(path, key, entry):
    """Add the entry atomically; a folder that cannot be written only means measuring again next time."""
    data = _read_cache(path)
    data.pop(key, None)
    data[key] = entry
    data = dict(list(data.items())[-_CACHE_ENTRIES:])
    try:
        folder = os.path.dirname(path) or "."
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=".precision-", suffix=".tmp",
                                         delete=False) as file:
            temporary = file.name
            json.dump(data, file, ensure_ascii=False, indent=1)
        os.replace(temporary, path)
    except OSError:
        try:
            os.unlink(temporary)
        except (OSError, NameError):
            pass


# --- in words -------------------------------------------------------------------------------------


def describe_choice(choice):
    """One Spanish sentence: the precision of the fast mode, and the figures it was chosen by."""
    if choice.source == "fija":
        reason = "la GPU la calcula de forma nativa" if choice.name == FLOAT16 else \
            "esta CPU no calcula otra de forma nativa"
        return f"Modo rápido: precisión {choice.name} ({reason}; no se mide)."
    reference = choice.seconds.get(FLOAT32)
    figures = []
    for name, seconds in choice.seconds.items():
        if seconds is None:
            figures.append(f"{name} no disponible")
            continue
        speed = f", {reference / seconds:.2f}×".replace(".", ",") if reference and name != FLOAT32 else ""
        figures.append(f"{name} {seconds * 1000:.1f} ms{speed}".replace(".", ","))
    when = "medido ahora" if choice.source == "medida" else "medido en una ejecución anterior, guardado en caché"
    return (f"Modo rápido: precisión {choice.name}, la más rápida en las capas más pesadas del modelo "
            f"en esta CPU ({'; '.join(figures)}; {when}).")
