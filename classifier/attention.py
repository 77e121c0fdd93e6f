"""Attention rollout (Abnar and Zuidema, 2020, "Quantifying Attention Flow in Transformers").

Each layer's attention, averaged over its heads, gets the identity added for the
residual path and its rows renormalised; the product over the layers says how much
each input token flows into each output token. The class token's row over the
patches is the map: where the model gathered what it used to answer.
"""

import torch

from .errors import ClassifierError


class MapUnavailable(ClassifierError):
    """The model's attention does not have the shape a rollout map needs."""


def rollout(attentions):
    """Per-layer attentions, each (batch, heads, tokens, tokens) -> (batch, tokens, tokens).

    Every row of the result sums to one.
    """
    result = None
    for layer in attentions:
        mixed = layer.float().mean(dim=1)
        mixed = mixed + torch.eye(mixed.shape[-1], dtype=mixed.dtype, device=mixed.device)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        # Later layers act on what the earlier ones already mixed: multiply on the left.
        result = mixed if result is None else mixed @ result
    return result


def class_token_maps(attentions, grid):
    """(batch, rows, columns): the class token's rollout over the patch grid.

    grid: (rows, columns) of patches. Patches are the last rows*columns tokens; the
    class token is the first (models with a distillation token have one more in front).
    """
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
    flow = rollout(attentions)
    return flow[:, 0, prefix:].reshape(-1, rows, columns)
