"""The weights checked before transformers reads them: the safetensors headers, and whether the
network config.json describes (built on the meta device) is one those weights can fill."""

import json
import os
import re
from collections import Counter

import torch

from classifier.base.spanish import thousands

from .refusals import broken
from .settings import NotPlain, plain_file, read_settings

# An image classifier's safetensors header lists a few hundred tensors in ~100 KB (safetensors itself allows 100 MB).
_HEADER_BYTES = 16 * 1024 * 1024
_SPARE_TENSORS = 64  # what a network may register beyond twice its stored tensors (tied weights, buffers)
_FLOAT_DTYPES = ("F", "BF")  # safetensors' floating types: F64, F32, F16, BF16, F8_E4M3...; not I*, U*, BOOL, C64
# Settings of config.json that count layers or blocks (depths [3, 3, 9, 3], num_hidden_layers 12, num_block_repeats...).
_BLOCK_COUNT = re.compile(r"(depths?|layers|blocks|repeats|stages)$")


class DamagedWeights(Exception):
    """A safetensors header that does not describe the file it heads."""


class _TooManyTensors(Exception):
    """Building a network registered more tensors than its weights file could fill."""


def _header_tensors(path):
    """{name: (shape, floating)} from a safetensors file's header alone: 8 bytes of length, then JSON, bounded.

    DamagedWeights when the header does not describe the file (cut short, offsets past its end).
    """
    with plain_file(path) as (file, size):
        start = file.read(8)
        length = int.from_bytes(start, "little") if len(start) == 8 else -1
        if not 0 < length <= min(_HEADER_BYTES, size - 8):
            raise DamagedWeights(path)
        text = file.read(length)
    try:
        header = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):
        raise DamagedWeights(path) from None
    if not isinstance(header, dict):
        raise DamagedWeights(path)
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape) and isinstance(dtype, str)
                and isinstance(offsets, list) and len(offsets) == 2
                and all(type(n) is int and 0 <= n <= size - 8 - length for n in offsets)):
            raise DamagedWeights(path)
        tensors[name] = (tuple(shape), dtype.startswith(_FLOAT_DTYPES))
    return tensors


def stored_tensors(folder):
    """{name: (shape, floating)} of every tensor the weights that transformers would read hold, from their headers:
    model.safetensors, else the shards model.safetensors.index.json names. None when there are neither
    (transformers then finds no weights, and says so). NotPlain («model.safetensors no es…»),
    DamagedWeights."""
    single = os.path.join(folder, "model.safetensors")
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.lexists(single):
        files = ["model.safetensors"]
    elif os.path.lexists(index):
        try:
            weight_map = read_settings(index)
        except NotPlain as exc:
            raise type(exc)(f"model.safetensors.index.json {exc}") from None
        except PermissionError:
            raise
        except OSError:  # a link to itself or to nothing, a disk error
            raise DamagedWeights(index) from None
        weight_map = weight_map.get("weight_map") if isinstance(weight_map, dict) else None
        if not isinstance(weight_map, dict) or not all(
                isinstance(shard, str) and shard not in ("", ".", "..") and os.path.basename(shard) == shard
                and "\\" not in shard for shard in weight_map.values()):
            raise DamagedWeights(index)  # a shard outside the folder is not this model's
        files = sorted(set(weight_map.values()))
    else:
        return None
    tensors = {}
    for name in files:
        try:
            tensors.update(_header_tensors(os.path.join(folder, name)))
        except NotPlain as exc:
            raise NotPlain(f"{name} {exc}") from None
        except PermissionError:
            raise
        except OSError:  # missing or unreadable: transformers' reading says so
            raise DamagedWeights(name) from None
    return tensors


def _network_tensors(config, budget):
    """{name: (shape, floating)} of the state dict of the network config describes, built on the meta device
    (shapes without memory); None when building it registers more than budget tensors.

    A config.json asking for a million layers is stopped after a few: built in full, even
    without memory for the weights, its modules alone took a minute and gigabytes.
    """
    from torch.nn.modules import module as torch_module
    from transformers import AutoModelForImageClassification

    registered = 0

    def count(module, name, value):
        nonlocal registered
        if value is not None:
            registered += 1
            if registered > budget:
                raise _TooManyTensors

    hooks = [torch_module.register_module_parameter_registration_hook(count),
             torch_module.register_module_buffer_registration_hook(count)]
    try:
        with torch.device("meta"):
            network = AutoModelForImageClassification.from_config(config, trust_remote_code=False)
    except _TooManyTensors:
        return None
    finally:
        for hook in hooks:
            hook.remove()
    if registered > budget:  # stopped, even if some code on the way swallowed the exception
        return None
    tensors, seen = {}, set()
    for name, tensor in network.state_dict(keep_vars=True).items():
        if id(tensor) not in seen:  # a tied weight is stored once
            seen.add(id(tensor))
            tensors[name] = (tuple(tensor.shape), tensor.is_floating_point())
    return tensors


def _block_counts(raw, prefix=""):
    """(setting, blocks) for each setting of a config.json dict that counts layers or blocks, sub-configs
    (vision_config...) included, label2id not: depths [3, 3, 9, 3] counts 18. min_depth and max_depth are
    channel counts and ranges."""
    for key, value in raw.items():
        if isinstance(value, dict) and key.endswith("_config"):
            yield from _block_counts(value, f"{prefix}{key}.")
        elif _BLOCK_COUNT.search(key) and not key.startswith(("min_", "max_")):
            numbers = value if isinstance(value, list) else [value]
            yield prefix + key, sum(n for n in numbers if type(n) is int and n > 0)


def check_network_fits(config, stored, name, raw=None):
    """Refuse a config.json whose network the weights cannot fill, before transformers builds it.

    raw: config.json's dict. Its layer and block counts are compared first: every layer or block has
    tensors of its own, and some networks compute a list as long as all their blocks before they
    build any (ConvNeXt's drop-path rates: 4 GB for depths of 100 million).
    By shapes, not names: transformers renames keys as it loads them (its ViT's layers are
    vit.layers.N where files say vit.encoder.layer.N); the exact names are checked after the
    load, from transformers' own account (missing, mismatched and unexpected keys).
    """
    budget = 2 * len(stored) + _SPARE_TENSORS
    too_large = f"su config.json describe una red de más de {thousands(budget)} tensores"
    for setting, blocks in _block_counts(raw if isinstance(raw, dict) else {}):
        if blocks > budget:
            raise broken(name, f"{too_large} ({setting} pide {thousands(blocks)} capas o bloques), y sus pesos "
                               f"solo guardan {thousands(len(stored))}")
    try:
        network = _network_tensors(config, budget)
    except Exception as exc:  # transformers' own load would build the same network and fail the same way
        raise broken(name, "su config.json describe una red que no se puede construir") from exc
    if network is None:
        raise broken(name, f"{too_large}, y sus pesos solo guardan {thousands(len(stored))}")
    available = Counter(stored.values())
    lacking = []
    # Decimals first: a whole-number buffer (BatchNorm's num_batches_tracked) may take a stored decimal,
    # as transformers converts it; a decimal weight may not take a whole number.
    for kind in sorted(network.values(), key=lambda kind: not kind[1]):
        shape, floating = kind
        match = next((option for option in ((kind,) if floating else (kind, (shape, True))) if available[option]),
                     None)
        if match is None:
            if not floating and shape == ():  # a step counter (num_batches_tracked): no part of inference
                continue
            lacking.append(kind)
        else:
            available[match] -= 1
    if not lacking:
        return
    stored_kinds = Counter(stored.values())
    # transformers would turn whole numbers or booleans into decimals without a word: not a trained model's weights.
    whole = next((shape for shape, floating in lacking if floating and stored_kinds[shape, False]), None)
    if whole is not None:
        raise broken(name, "sus pesos guardan números enteros o booleanos donde la red lleva números decimales "
                           f"(como en un tensor de {_dimensions(whole)}), y los pesos de un modelo son decimales")
    shape = lacking[0][0]
    raise broken(name, f"sus pesos no corresponden a su config.json ({thousands(len(lacking))} de los "
                       f"{thousands(len(network))} tensores de la red que describe no están en ellos con su "
                       f"forma, como uno de {_dimensions(shape)})")


def _dimensions(shape):
    return " × ".join(map(thousands, shape)) or "1"
