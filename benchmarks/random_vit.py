"""Save a full-size ViT-B/16 with random weights: same compute as google/vit-base-patch16-224.

The architecture and image-processor settings are those of the real model's
config.json and preprocessor_config.json; the weights are random, so the labels
("clase_000" ... "clase_999") mean nothing. For benchmarks and format examples only.

    python -m benchmarks.random_vit CARPETA
"""

import sys
import tempfile
from contextlib import contextmanager


@contextmanager
def given_or_random_vit(model=None):
    """The model folder given, or a random ViT-B/16 in a temporary folder removed afterwards."""
    if model is not None:
        yield model
        return
    with tempfile.TemporaryDirectory() as folder:
        yield build_random_vit(folder)


def build_random_vit(folder, seed=0):
    import torch
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    labels = {i: f"clase_{i:03d}" for i in range(1000)}
    config = ViTConfig(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", layer_norm_eps=1e-12, image_size=224, patch_size=16, num_channels=3, qkv_bias=True,
        id2label=labels, label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(seed)
    with quiet_saving():
        ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessorPil(
        do_resize=True, size={"height": 224, "width": 224}, resample=2, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    ).save_pretrained(folder)
    return folder


@contextmanager
def quiet_saving():
    """No English «Writing model shards» bar: the README's commands print nothing but what they mean."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("uso: python -m benchmarks.random_vit CARPETA")
    print(build_random_vit(sys.argv[1]))
