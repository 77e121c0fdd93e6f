"""Packed oneDNN linear layers: same outputs as the plain model, and a fallback when unavailable."""

import pytest
import torch
from transformers import AutoModelForImageClassification

from classifier.accel import PackedLinear, pack_linear_layers


def _models(folder, dtype=torch.float32):
    plain = AutoModelForImageClassification.from_pretrained(folder).eval().to(dtype)
    packed = AutoModelForImageClassification.from_pretrained(folder).eval().to(dtype)
    return plain, packed


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this PyTorch has no oneDNN")
def test_every_linear_layer_is_packed_and_gelu_fused(tiny_model_dir):
    plain, packed = _models(tiny_model_dir)
    linear_count = sum(type(m) is torch.nn.Linear for m in plain.modules())
    assert pack_linear_layers(packed) == linear_count
    assert not any(type(m) is torch.nn.Linear for m in packed.modules())
    fused = [m for m in packed.modules() if isinstance(m, PackedLinear) and m.post_op == "gelu"]
    assert len(fused) == plain.config.num_hidden_layers
    pixels = torch.randn(3, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, actual = plain(pixel_values=pixels).logits, packed(pixel_values=pixels).logits
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this PyTorch has no oneDNN")
def test_bfloat16_packing_matches_plain_bfloat16(tiny_model_dir):
    plain, packed = _models(tiny_model_dir, torch.bfloat16)
    assert pack_linear_layers(packed) > 0
    pixels = torch.randn(2, 3, 32, 48, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    with torch.inference_mode():
        expected = plain(pixel_values=pixels).logits.float().softmax(-1)
        actual = packed(pixel_values=pixels).logits.float().softmax(-1)
    assert (actual - expected).abs().max() < 2e-2


def test_a_layer_whose_packed_op_fails_stays_plain(monkeypatch, tiny_model_dir):
    def broken(self, x):
        raise RuntimeError("oneDNN op missing")

    monkeypatch.setattr(PackedLinear, "forward", broken)
    plain, packed = _models(tiny_model_dir)
    assert pack_linear_layers(packed) == 0
    pixels = torch.randn(1, 3, 32, 48)
    with torch.inference_mode():
        assert torch.equal(plain(pixel_values=pixels).logits, packed(pixel_values=pixels).logits)


def test_a_packed_layer_that_disagrees_is_refused(monkeypatch, tiny_model_dir):
    original = PackedLinear.forward
    monkeypatch.setattr(PackedLinear, "forward", lambda self, x: original(self, x) * 1.01)
    _, packed = _models(tiny_model_dir)
    assert pack_linear_layers(packed) == 0
