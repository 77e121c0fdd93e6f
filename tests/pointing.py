"""The pointing game (Zhang et al., 2016, "Top-down Neural Attention by Excitation Backprop").

A map "hits" when its peak falls inside the object whose place is known, with the
paper's tolerance of 15 pixels (here: of the model's input, 224 pixels for Lite0); the
score is the share of hits, and chance is the share of the picture the object and its
tolerance cover (a peak thrown at random lands there that often). The peak is taken
on the map as the program draws it: stretched bilinearly over the part of the picture
the model saw.
"""

from typing import NamedTuple

import numpy as np

TOLERANCE = 15  # pixels of the model's input, as in Zhang et al. (2016)


class Box(NamedTuple):
    left: float
    top: float
    width: float
    height: float

    def holds(self, x, y):
        return self.left <= x < self.left + self.width and self.top <= y < self.top + self.height

    def grown(self, margin, within):
        """This box with margin pixels more on each side, cut to the box within."""
        left, top = max(self.left - margin, within.left), max(self.top - margin, within.top)
        right = min(self.left + self.width + margin, within.left + within.width)
        bottom = min(self.top + self.height + margin, within.top + within.height)
        return Box(left, top, right - left, bottom - top)

    @property
    def area(self):
        return self.width * self.height


def peak(values, width, height):
    """(x, y) in pixels of the maximum of a (rows, columns) map stretched over width x height."""
    import torch
    import torch.nn.functional as F

    grid = torch.as_tensor(np.asarray(values, dtype=np.float32))[None, None]
    stretched = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)[0, 0]
    row, column = divmod(int(stretched.argmax()), width)
    return column + 0.5, row + 0.5


class Score:
    """Hits over the counted cases, and the chance level of those same cases."""

    def __init__(self):
        self.hits, self.cases, self.chance = 0, 0, 0.0

    def add(self, hit, share):
        self.hits += bool(hit)
        self.cases += 1
        self.chance += share

    @property
    def rate(self):
        return self.hits / self.cases if self.cases else 0.0

    def __str__(self):
        if not self.cases:
            return "ningún caso"
        return (f"{self.hits} de {self.cases} ({self.rate * 100:.0f} %), azar {self.chance / self.cases * 100:.0f} %"
                .replace(".", ","))
