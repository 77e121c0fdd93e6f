"""Class names shown to the user: the model's own, or Spanish ones for ImageNet-1k.

The Spanish table (data/imagenet_es.tsv: id, English label, Spanish name) applies
only when a model's labels are exactly the 1000 English ImageNet-1k labels, in
order; any other label set is shown as the model gives it, never half translated.
"""

import csv
import functools
from importlib import resources

LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"
_TABLE = "imagenet_es.tsv"


@functools.cache
def imagenet_table():
    """[(english, spanish)] for the 1000 ImageNet-1k classes, by class index."""
    with resources.files(__package__).joinpath("data", _TABLE).open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(row["english"], row["spanish"]) for row in sorted(rows, key=lambda row: int(row["id"]))]


def display_labels(model_labels, language=DEFAULT_LANGUAGE):
    """The names to show for a model's labels (a list ordered by class index)."""
    model_labels = list(model_labels)
    if language == "es":
        table = imagenet_table()
        if len(table) == len(model_labels) and all(
            english == label for (english, _), label in zip(table, model_labels, strict=True)
        ):
            return [spanish for _, spanish in table]
    return model_labels
