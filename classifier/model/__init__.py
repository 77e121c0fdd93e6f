"""The model: loading a folder once, classifying pictures with it, and running it fast.

classify.py    Classifier: preprocess, scores, top-k and maps
geometry.py    the image processor's resize and crop geometry, and the bounds a picture must keep
device.py      the device, and the fast mode's precision
folder.py      loading a model folder, each file checked (settings.py, weights.py, refusals.py)
accel.py       packed linear layers (CPU)
precision.py   --rapido's precision, measured with one block of the model
"""

from classifier.base.results import Prediction

from .classify import Classifier, by_shape
from .device import fast_precision, resolve_device
from .geometry import resize_in_bands

__all__ = ["Classifier", "Prediction", "by_shape", "fast_precision", "resize_in_bands", "resolve_device"]
