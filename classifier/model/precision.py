"""The fast mode's precision, chosen by timing the model's own layers on this device.

Whether bfloat16 or float16 beats float32 on a CPU cannot be read from its feature
flags: a CPU with AVX512-BF16 but no AMX may run bfloat16 slower than float32 (AMD
Zen 4, many cloud VMs), another twice as fast. So the model's heaviest block (a ViT
encoder layer) is timed once in each precision the device offers, prepared as the
real run prepares it (packed), and the fastest is kept; float32 stays
unless another wins clearly. The answer is cached per CPU (model name and features),
torch version and layer shapes. Nothing here prints.
"""

import hashlib
import json
import math
import os
import platform
import time
from copy import deepcopy
from typing import NamedTuple

import torch
from torch import nn

from classifier.base.defaults import config_folder
from classifier.base.files import read_small_regular_file, write_json_atomic
from classifier.base.spanish import decimal

from .accel import pack_linear_layers

FLOAT32, BFLOAT16, FLOAT16 = "float32", "bfloat16", "float16"
DTYPES = {FLOAT32: torch.float32, BFLOAT16: torch.bfloat16, FLOAT16: torch.float16}
EXACTNESS = (FLOAT16, BFLOAT16)  # the less exact, the later
CLEAR_WIN = 1.10  # another precision replaces float32 only if the sampled block runs 10 % faster in it
_ROUNDS, _WARMUP = 5, 2
# What a layer raises when this build or CPU lacks one of its ops in a precision (or cannot copy it).
_UNUSABLE = (RuntimeError, ValueError, TypeError, NotImplementedError)
CACHE_FILE = "precision.json"
_CACHE_LIMIT = 256 * 1024
_CACHE_ENTRIES = 32  # a cache that grows with every model tried stays small


class PrecisionChoice(NamedTuple):
    name: str  # FLOAT32, BFLOAT16 or FLOAT16
    seconds: dict  # precision -> seconds of one forward's worth of the sampled block; None: unusable here
    source: str  # "medida" (timed now), "caché" (timed in an earlier run), "fija" (not timed: GPU)
    # The second timing of float32 and the first timing's winner, when it did not confirm that win.
    second: dict | None = None

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
    """The fastest usable precision, if it beats float32 clearly (by CLEAR_WIN); else float32.

    Near-ties (within CLEAR_WIN of the fastest) go to the more exact precision:
    float16 (10 bits of mantissa), then bfloat16 (7 bits).
    """
    reference = seconds.get(FLOAT32)
    usable = {name: seconds[name] for name in candidates if seconds.get(name) is not None}
    if reference is None or not usable:
        return FLOAT32
    fastest = min(usable.values())
    if fastest * CLEAR_WIN > reference:
        return FLOAT32
    return next((name for name in EXACTNESS if name in usable and usable[name] <= fastest * CLEAR_WIN
                 and usable[name] * CLEAR_WIN <= reference), FLOAT32)


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
    try:
        blocks = heaviest_blocks(model, sample)
    except _UNUSABLE:  # a model that cannot run the gray sample: the exact precision, untimed
        return PrecisionChoice(FLOAT32, {}, "fija")
    timer = timer or clock
    seconds = time_precisions(blocks, candidates, timer)
    choice = PrecisionChoice(pick(seconds, candidates), seconds, "medida")
    if choice.name != FLOAT32:
        # A burst of other work during float32's turns can fake a win, and a cached choice is kept for
        # good: the winner must beat float32 again in a second timing of the two before it is used.
        again = time_precisions(blocks, [FLOAT32, choice.name], timer)
        if pick(again, [FLOAT32, choice.name]) != choice.name:
            return PrecisionChoice(FLOAT32, seconds, "medida", again)  # not cached: the next run measures again
    _write_cache(cache_file, key, {"precision": choice.name, "seconds": seconds})
    return choice


def apply_precision(model, name, device, pack=True):
    """Move the model to device in precision name (None: the exact float32); returns its input dtype.

    pack: on a CPU, put the linear layers in oneDNN's packed layout.
    """
    dtype = DTYPES[name or FLOAT32]
    model.to(device, dtype)
    if device.type == "cpu" and pack:
        pack_linear_layers(model)
    return dtype


class Block(NamedTuple):
    module: nn.Module
    args: tuple  # the inputs it received in the sample forward pass
    kwargs: dict
    count: int  # how many such blocks one forward runs (in compute)


def heaviest_blocks(model, sample):
    """The model's heaviest repeated block (a ViT encoder layer, an EfficientNet block), with the inputs it sees.

    A whole block, not its matrix products alone: normalisations, activations and the
    attention run in the precision too.
    count scales its time to the whole stack. A model with no stack of blocks is timed whole.
    """
    stacks = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m)]
    if not stacks:
        return [Block(model, (), {"pixel_values": sample}, 1)]
    stack = max(stacks, key=lambda blocks: sum(p.numel() for p in blocks.parameters()))
    inputs, flops, owner = {}, {}, {}
    for index, block in enumerate(stack):
        for layer in block.modules():
            owner[layer] = index

    def record_block(module, args, kwargs):
        inputs.setdefault(id(module), (args, kwargs))

    def record_layer(module, args):
        if args and isinstance(args[0], torch.Tensor):
            flops[owner[module]] = flops.get(owner[module], 0) + _flops(module, tuple(args[0].shape))

    hooks = [block.register_forward_pre_hook(record_block, with_kwargs=True) for block in stack]
    hooks += [layer.register_forward_pre_hook(record_layer) for layer in owner if type(layer) in (nn.Linear, nn.Conv2d)]
    try:
        with torch.inference_mode():
            model(pixel_values=sample.to(next(model.parameters()).dtype))
    finally:
        for hook in hooks:
            hook.remove()
    heaviest = max(range(len(stack)), key=lambda index: flops.get(index, 0))
    if id(stack[heaviest]) not in inputs or not flops.get(heaviest):
        return [Block(model, (), {"pixel_values": sample}, 1)]
    args, kwargs = inputs[id(stack[heaviest])]
    return [Block(stack[heaviest], args, kwargs, sum(flops.values()) / flops[heaviest])]


def _flops(module, shape):
    if type(module) is nn.Linear:
        rows = 1
        for size in shape[:-1]:
            rows *= size
        return rows * module.in_features * module.out_features
    height, width = shape[-2] // module.stride[0], shape[-1] // module.stride[1]
    kernel = module.kernel_size[0] * module.kernel_size[1]
    return shape[0] * module.out_channels * height * width * kernel * module.in_channels // module.groups


def time_precisions(blocks, candidates, timer, rounds=_ROUNDS):
    """precision -> seconds of one forward's worth of the sampled blocks (each times its count); None if it fails.

    The precisions take turns, round after round, and each block keeps its best time: on a
    machine shared with other work, a burst of load then slows one round, not one precision.
    """
    runners = {}
    for name in candidates:
        try:
            runners[name] = [(block.count, _block_runner(block, name)) for block in blocks]
        except _UNUSABLE:  # an op this build or CPU lacks in that precision
            runners[name] = None
    best = {name: [float("inf")] * len(blocks) for name, runs in runners.items() if runs is not None}
    for round_ in range(_WARMUP + rounds):
        for name in list(best):
            try:
                for index, (_, run) in enumerate(runners[name]):
                    seconds = float(timer(run, name))
                    if round_ >= _WARMUP:
                        best[name][index] = min(best[name][index], seconds)
            except _UNUSABLE:
                runners[name] = None
                del best[name]
    return {name: None if runners[name] is None else
            sum(count * seconds for (count, _), seconds in zip(runners[name], best[name], strict=True))
            for name in candidates}


def _block_runner(block, name):
    """A call of a copy of the block in the given precision, prepared as the loaded model will be."""
    module = deepcopy(block.module)
    dtype = apply_precision(module, name, torch.device("cpu"))

    def convert(value):
        return value.to(dtype) if isinstance(value, torch.Tensor) and value.is_floating_point() else value

    args = tuple(convert(value) for value in block.args)
    kwargs = {key: convert(value) for key, value in block.kwargs.items()}

    def run():
        with torch.inference_mode():
            return module(*args, **kwargs)

    run()  # fails here, not inside the timer, if this precision lacks an op
    return run


def clock(run, precision=None):
    """Seconds one call of run() takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


# --- the cache ------------------------------------------------------------------------------------


def _cache_key(model, candidates):
    """CPU (name and features), torch version, candidates, and the shapes of the model's layers."""
    features = ",".join(name for name, present in cpu_features().items() if present)
    shapes = repr([(type(m).__name__, tuple(m.weight.shape)) for m in model.modules()
                   if type(m) in (nn.Linear, nn.Conv2d)])
    digest = hashlib.sha256(shapes.encode()).hexdigest()[:16]
    return f"{cpu_name()} [{features}] | torch {torch.__version__} | {'/'.join(candidates)} | capas {digest}"


def _valid_entry(entry, candidates):
    """A cached answer is used only if this CPU can still run it and its own figures choose it: the file may
    have been edited (a precision slower than float32 by those figures would slow every run down)."""
    if not isinstance(entry, dict) or entry.get("precision") not in candidates:
        return False
    seconds = entry.get("seconds")
    return isinstance(seconds, dict) and all(
        name in DTYPES and (value is None or (type(value) in (int, float) and math.isfinite(value) and value > 0))
        for name, value in seconds.items()
    ) and seconds.get(entry["precision"]) is not None and pick(seconds, candidates) == entry["precision"]


def _read_cache(path):
    """The cache's entries; {} when there is none or it is not a small JSON file (a pipe never blocks)."""
    try:
        data = json.loads(read_small_regular_file(path, _CACHE_LIMIT).decode("utf-8"))
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
        write_json_atomic(path, data, indent=1)
    except OSError:
        pass


# --- in words -------------------------------------------------------------------------------------


def describe_choice(choice):
    """One Spanish sentence: the precision of the fast mode, and the figures it was chosen by.

    It calls the precision «la más rápida» only when its figures say so: float32 kept for want of a clear
    win, a near-tie given to the more exact precision and a win that a second timing did not confirm are
    each said as they are.
    """
    if choice.source == "fija":
        reason = "la GPU la calcula de forma nativa" if choice.name == FLOAT16 else \
            "no hay otra que medir en esta CPU"
        return f"Modo rápido: precisión {choice.name} ({reason}; no se mide)."
    figures = _figures(choice.seconds)
    when = "medido ahora" if choice.source == "medida" else "medido en una ejecución anterior, guardado en caché"
    timed = {name: seconds for name, seconds in choice.seconds.items() if seconds is not None}
    if choice.second:
        refuted = next(name for name in choice.second if name != FLOAT32)
        return (f"Modo rápido: {refuted} pareció {_speed(choice.seconds, refuted)}× más rápida que float32 con las "
                f"capas del modelo en esta CPU ({figures}), pero una segunda medida no lo confirmó "
                f"({_figures(choice.second)}): se usa {choice.name} ({when}).")
    if choice.name not in timed:
        return f"Modo rápido: precisión {choice.name} ({figures}; {when})."
    fastest = min(timed, key=timed.get)
    if timed[choice.name] <= timed[fastest]:
        how = "la más rápida"
    elif choice.name == FLOAT32:
        how = f"ninguna otra fue al menos un {round((CLEAR_WIN - 1) * 100)} % más rápida"
    else:
        how = f"casi tan rápida como {fastest} y más exacta"
    return f"Modo rápido: precisión {choice.name}, {how} con las capas del modelo en esta CPU ({figures}; {when})."


def _figures(seconds):
    """«float32 19,7 ms; float16 15,9 ms, 1,24×; bfloat16 no disponible»."""
    figures = []
    for name, value in seconds.items():
        if value is None:
            figures.append(f"{name} no disponible")
        elif name == FLOAT32 or not seconds.get(FLOAT32):
            figures.append(f"{name} {decimal(value * 1000)} ms")
        else:
            figures.append(f"{name} {decimal(value * 1000)} ms, {_speed(seconds, name)}×")
    return "; ".join(figures)


def _speed(seconds, name):
    """How many times faster than float32 name ran, as «1,24»."""
    return decimal(seconds[FLOAT32] / seconds[name], 2)
