"""Where the model runs (CPU, CUDA or Apple's MPS) and, in the fast mode, in which precision."""

import torch
from PIL import Image

from classifier.base.errors import ModelLoadError, quoted

from .precision import choose_precision


def resolve_device(name):
    """'auto' -> cuda, then mps, then cpu; an explicit device must be present."""
    has_mps = torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("Se pidió --dispositivo cuda, pero PyTorch no encuentra ninguna GPU CUDA en este equipo.")
    if name == "mps" and not has_mps:
        raise ModelLoadError("Se pidió --dispositivo mps, pero este equipo no tiene una GPU Apple (MPS) disponible.")
    if name not in ("cpu", "cuda", "mps"):
        raise ModelLoadError(f"Dispositivo desconocido {quoted(name)}: use auto, cpu, cuda o mps.")
    return torch.device(name)


def fast_precision(model, processor, device, cache_file=None, timer=None, candidates=None):
    """The fast mode's PrecisionChoice: measured on this device with the model's own layers (precision.py)."""
    sample = processor(images=Image.new("RGB", (64, 64), (128, 128, 128)), return_tensors="pt")["pixel_values"]
    return choose_precision(model, sample, device, cache_file=cache_file, timer=timer, candidates=candidates)
