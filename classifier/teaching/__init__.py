"""Teach the program new classes: a folder per class -> a transformers model folder with a new head.

classes.py   CARPETA -> the classes and their photos, or the sentence that says what is wrong
features.py  each photo -> the base's pooled representation (the input of its classification layer)
cache.py     those representations kept by photo content and base model, so a rerun reads only new photos
head.py      multinomial logistic regression, its L2 strength chosen by stratified cross-validation
writing.py   the head written into the model's own layer, saved beside DESTINO and renamed into place
report.py    the cross-validated figures, the most confused pairs and the warnings, in Spanish
(The front-end that runs these steps and prints what they found is classifier/app/teach.py.)
"""

from .classes import TeachingError

__all__ = ["TeachingError"]
