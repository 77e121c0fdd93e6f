"""A tiny ViT trained on a task where the object's place is known, for the pointing game.

Four kinds of textured squares (stripes across, stripes down, a checkerboard, diagonal
stripes), in random colours and sizes, pasted at a random place on clutter: smooth
colour noise and plain rectangles. Plain rectangles look like the objects in all but
their texture, so the class can only be read where the textured square is.

Training takes about 3 minutes of CPU, so the trained model is committed (tests/fixtures/
vit-sintetico, 0.6 MB) with the hash of this file that built it; a change here without a
rebuild fails the tests. Rebuild:  python tests/synthetic_vit.py
test_pointing_game.py retrains it under CI and checks the same tensors come out.
"""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

SIZE = 64  # pixels; 8 x 8 patches of 8
PATCH = 8
KINDS = ["rayas horizontales", "rayas verticales", "cuadros", "rayas diagonales"]
OBJECT_SIDES = (14, 22)
CLUTTER = 2  # plain rectangles per picture
STEPS = 200
BATCH = 64
SEED = 21
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "vit-sintetico"
KEY_FILE = "construido-por.txt"  # cache_key() of the code that trained it


def cache_key():
    """Hash of this file: the task, the training and the way it is saved."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def draw(rng, count):
    """count pictures: (uint8 array count x SIZE x SIZE x 3, kinds, (left, top, side) of each object)."""
    import torch
    import torch.nn.functional as F

    cells = torch.as_tensor(rng.uniform(40, 215, (count, 3, SIZE // 8, SIZE // 8)), dtype=torch.float32)
    pictures = F.interpolate(cells, size=(SIZE, SIZE), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
    pictures = pictures.numpy().copy()
    y, x = np.mgrid[0:OBJECT_SIDES[1], 0:OBJECT_SIDES[1]]
    kinds, boxes = rng.integers(len(KINDS), size=count).tolist(), []
    for picture, kind in zip(pictures, kinds, strict=True):
        for _ in range(CLUTTER):
            width, height = rng.integers(6, OBJECT_SIDES[1] + 1, 2)
            left, top = rng.integers(0, SIZE - width + 1), rng.integers(0, SIZE - height + 1)
            picture[top:top + height, left:left + width] = rng.uniform(40, 215, 3)
        side = int(rng.integers(OBJECT_SIDES[0], OBJECT_SIDES[1] + 1))
        left, top = (int(v) for v in rng.integers(0, SIZE - side + 1, 2))
        period = int(rng.integers(2, 4))
        oy, ox = y[:side, :side] // period, x[:side, :side] // period
        pattern = [oy % 2, ox % 2, (oy + ox) % 2, (y[:side, :side] + x[:side, :side]) // period % 2][kind]
        first, second = rng.uniform(0, 90, 3), rng.uniform(165, 255, 3)
        picture[top:top + side, left:left + side] = np.where(pattern[..., None] == 1, first, second)
        boxes.append((left, top, side))
    return pictures.clip(0, 255).astype(np.uint8), kinds, boxes


def trained_vit():
    """The committed model's folder; an AssertionError naming the rebuild when this file changed since."""
    built_by = (FIXTURE / KEY_FILE).read_text(encoding="utf-8").strip() if (FIXTURE / KEY_FILE).is_file() else None
    assert built_by == cache_key(), (
        f"{FIXTURE} was built by another version of tests/synthetic_vit.py ({built_by}, now {cache_key()}): "
        "rebuild it with  python tests/synthetic_vit.py")
    return FIXTURE


def build(folder):
    """Train the model into folder (whole or not at all), with the key of the code that trained it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="vit-sintetico-", dir=folder.parent))
    try:
        _train(scratch)
        (scratch / KEY_FILE).write_text(cache_key() + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def _train(folder):
    import torch
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    config = ViTConfig(image_size=SIZE, patch_size=PATCH, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                       intermediate_size=128, num_labels=len(KINDS), id2label=dict(enumerate(KINDS)),
                       label2id={k: i for i, k in enumerate(KINDS)})
    model = ViTForImageClassification(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=STEPS, pct_start=0.1)
    for _ in range(STEPS):
        pictures, kinds, _ = draw(rng, BATCH)
        pixels = torch.as_tensor(pictures, dtype=torch.float32).permute(0, 3, 1, 2) / 127.5 - 1
        loss = torch.nn.functional.cross_entropy(model(pixel_values=pixels).logits, torch.tensor(kinds))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    model.save_pretrained(folder)
    ViTImageProcessorPil(size={"height": SIZE, "width": SIZE}, image_mean=[0.5] * 3,
                         image_std=[0.5] * 3).save_pretrained(folder)


if __name__ == "__main__":
    # The rebuild of the committed fixture, by the same code the tests check it against.
    import time

    started = time.monotonic()
    build(FIXTURE)
    print(f"{FIXTURE} rebuilt in {time.monotonic() - started:.0f} s (key {cache_key()})")
