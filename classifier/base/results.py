"""The plain data that flow from the engine to the writers: one Result per input, its Predictions."""

from typing import NamedTuple


class Prediction(NamedTuple):
    label: str
    score: float
    id: int  # the class index: joins results whatever the language of the label


class Result(NamedTuple):
    """One input: its path as the user gave it, and predictions or a Spanish error.

    With maps asked for: heatmap (a maps.Heatmap, None when the model gives no map), a
    display-size picture and the part of it the model saw.
    """

    path: str
    predictions: list | None = None
    error: str | None = None
    heatmap: object = None
    picture: object = None
    seen: object = None
    map_file: str | None = None
