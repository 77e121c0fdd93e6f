"""Where the model looked: one map per image, by the method the model's kind allows.

- Attention rollout (Abnar and Zuidema, 2020, "Quantifying Attention Flow in
  Transformers"), for ViT-type models: each layer's attention, averaged over its heads,
  gets the identity added for the residual path and its rows renormalised; the product
  over the layers says how much each input token flows into each output token. The
  class token's row over the patches is the map.
- Gradient-weighted attention (Chefer, Gur and Wolf, 2021, "Generic Attention-model
  Explainability"), for the same models: each layer's attention times its gradient
  for the top class, negatives dropped, averaged over heads, accumulated as
  R <- R + A R. Class-specific; measured against the rollout in tests/test_maps.py.
- Grad-CAM (Selvaraju et al., 2017), for models whose backbone ends in a spatial
  feature map (EfficientNet, ResNet, ConvNeXt, RegNet, MobileNet...): the channels of
  that map weighted by the spatial mean of their gradient for the top class, summed,
  negatives dropped.

Gradients are computed here only, and only when a map is asked for. Nothing prints.
torch is imported by the functions that compute: the window's drawing code reads
Method and Heatmap before torch is needed.
"""

from typing import NamedTuple

from classifier.base.errors import ClassifierError

MAP_CHUNK = 8  # images per backward pass: a batch of 64 would hold every activation at once


class MapUnavailable(ClassifierError):
    """The model gives nothing a map can be drawn from."""


class Method(NamedTuple):
    """How a map was drawn, in the words its panel uses."""

    key: str
    name: str  # the map panel's second title line
    short: str  # the same, where the panel is too narrow for name
    low: str  # the legend's two ends
    high: str
    word: str  # the legend's middle word, under a narrow map


ROLLOUT = Method("rollout", "por su atención (rollout)", "rollout", "poca atención", "mucha atención", "atención")
GRADIENT_ATTENTION = Method("atencion-gradiente", "por atención y gradientes", "atención×gradiente", "poco peso",
                            "mucho peso", "peso")
GRAD_CAM = Method("grad-cam", "por gradientes (Grad-CAM)", "Grad-CAM", "poco peso", "mucho peso", "peso")
# What a ViT-type model draws: the rollout, unless the pointing game in tests/test_maps.py says otherwise.
ATTENTION_DEFAULT = ROLLOUT


class Heatmap(NamedTuple):
    """One image's map: values (rows, columns) in NumPy over the part of the picture the model saw."""

    values: object
    method: Method


def rollout(attentions):
    """Per-layer attentions, each (batch, heads, tokens, tokens) -> (batch, tokens, tokens).

    Every row of the result sums to one.
    """
    import torch

    result = None
    for layer in attentions:
        mixed = layer.float().mean(dim=1)
        mixed = mixed + torch.eye(mixed.shape[-1], dtype=mixed.dtype, device=mixed.device)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        # Later layers act on what the earlier ones already mixed: multiply on the left.
        result = mixed if result is None else mixed @ result
    return result


def gradient_weighted(attentions, gradients):
    """Chefer et al. (2021), eq. 5-6: R = I; per layer R <- R + mean_heads((grad * A)^+) @ R."""
    import torch

    result = None
    for layer, gradient in zip(attentions, gradients, strict=True):
        weighted = (layer.float() * gradient.float()).clamp(min=0).mean(dim=1)
        if result is None:
            result = torch.eye(weighted.shape[-1], dtype=weighted.dtype, device=weighted.device).expand_as(weighted)
        result = result + weighted @ result
    return result


def _patch_prefix(attentions, grid):
    """Tokens in front of the patches (the class token, and DeiT's distillation token)."""
    if not attentions:
        raise MapUnavailable("Este modelo no devuelve sus matrices de atención: no se puede calcular el mapa.")
    rows, columns = grid
    tokens = attentions[0].shape[-1]
    prefix = tokens - rows * columns
    if prefix not in (1, 2) or any(a.shape[-2:] != (tokens, tokens) for a in attentions):
        raise MapUnavailable(
            "La atención de este modelo no corresponde a una cuadrícula de parches con un token de clase: "
            "no se puede calcular el mapa."
        )
    return prefix


def class_token_maps(attentions, grid, gradients=None):
    """(batch, rows, columns): the class token's row over the patch grid.

    grid: (rows, columns) of patches. Patches are the last rows*columns tokens; the
    class token is the first (models with a distillation token have one more in front).
    gradients: the attentions' gradients for the top class: Chefer's rule instead of the rollout.
    """
    prefix = _patch_prefix(attentions, grid)
    flow = rollout(attentions) if gradients is None else gradient_weighted(attentions, gradients)
    return flow[:, 0, prefix:].reshape(-1, *grid)


def grad_cam(features, gradients):
    """Selvaraju et al. (2017): (batch, channels, h, w) features and gradients -> (batch, h, w).

    ReLU(sum_k alpha_k A_k), alpha_k the mean gradient of channel k over the map.
    """
    weights = gradients.float().mean(dim=(2, 3), keepdim=True)
    return (weights * features.float()).sum(dim=1).clamp(min=0)


def attention_maps(model, pixel_values, grid, weighted=False, scores=None):
    """(scores, maps) from a model run with output_attentions (eager attention on).

    weighted: gradient-weighted attention for each image's top class, else the rollout.
    scores: logits -> scores (default softmax); the top class is the top logit either way.
    """
    import torch

    if not weighted:
        with torch.inference_mode():
            outputs = model(pixel_values=pixel_values, output_attentions=True)
            return _probabilities(outputs.logits, scores), class_token_maps(getattr(outputs, "attentions", None), grid)
    probs, maps = [], []
    for chunk in pixel_values.split(MAP_CHUNK):
        with torch.enable_grad():
            outputs = model(pixel_values=chunk.detach().requires_grad_(True), output_attentions=True)
            attentions = getattr(outputs, "attentions", None)
            _patch_prefix(attentions, grid)
            gradients = torch.autograd.grad(_top_scores(outputs.logits), attentions)
        maps.append(class_token_maps([a.detach() for a in attentions], grid, gradients))
        probs.append(_probabilities(outputs.logits.detach(), scores))
    return torch.cat(probs), torch.cat(maps)


def grad_cam_maps(model, pixel_values, classes=None, scores=None):
    """(scores, maps): Grad-CAM on the feature map the backbone hands to the pooling and head.

    classes: one class index per image to explain (default: each image's top class).
    scores: logits -> scores (default softmax); the top class is the top logit either way.
    """
    import torch

    probs, maps, captured = [], [], []
    hook = model.base_model.register_forward_hook(lambda module, args, output: captured.append(output))
    wanted = [None] * len(pixel_values) if classes is None else list(classes)
    try:
        for start, chunk in zip(range(0, len(pixel_values), MAP_CHUNK), pixel_values.split(MAP_CHUNK), strict=True):
            captured.clear()
            with torch.enable_grad():
                logits = model(pixel_values=chunk.detach().requires_grad_(True)).logits
                features, channels_last = _spatial_features(captured[-1] if captured else None)
                score = _top_scores(logits, wanted[start:start + MAP_CHUNK])
                [gradients] = torch.autograd.grad(score, [features])
            captured.clear()
            features = features.detach()
            if channels_last:
                features, gradients = features.permute(0, 3, 1, 2), gradients.permute(0, 3, 1, 2)
            maps.append(grad_cam(features, gradients))
            probs.append(_probabilities(logits.detach(), scores))
    finally:
        hook.remove()
    return torch.cat(probs), torch.cat(maps)


def _spatial_features(output):
    """(the backbone's last feature map, whether its channels come last), or MapUnavailable."""
    import torch

    features = getattr(output, "last_hidden_state", None)
    if features is None and isinstance(output, tuple | list) and output:
        features = output[0]
    if not isinstance(features, torch.Tensor) or features.dim() != 4 or not features.requires_grad:
        raise MapUnavailable("Este modelo no termina en un mapa de rasgos espacial: no se puede calcular el mapa.")
    pooled = getattr(output, "pooler_output", None)
    channels = pooled[0].numel() if isinstance(pooled, torch.Tensor) else features.shape[1]
    if features.shape[1] == channels:
        return features, False
    if features.shape[-1] == channels:  # channels last, as some backbones keep them
        return features, True
    raise MapUnavailable("Este modelo no termina en un mapa de rasgos espacial: no se puede calcular el mapa.")


def _top_scores(logits, classes=None):
    """The sum of each image's top-class logit (or of the class given for it): one backward pass gives
    every image its own gradient (images never mix in an eval-mode network)."""
    logits = logits.float()
    top = logits.argmax(dim=-1)
    if classes is not None:
        top = top.new_tensor([t if c is None else c for t, c in zip(top.tolist(), classes, strict=True)])
    return logits.gather(1, top[:, None]).sum()


def _probabilities(logits, scores=None):
    import torch

    if scores is not None:
        return scores(logits.float()).cpu()
    return torch.softmax(logits.float(), dim=-1).cpu()
