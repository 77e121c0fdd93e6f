"""Photos -> the base model's pooled representation: the input of its own classification layer.

A forward pre-hook on that layer captures what the network hands it, so ViT, EfficientNet,
ConvNeXt or any transformers image classifier give theirs without knowing where they pool.
Photos are opened by the program's own opener and preprocessed by the loaded Classifier.
"""

import hashlib

import numpy as np
import torch
from PIL import Image
from torch import nn

from classifier.base.errors import ImageError, PictureError, quoted
from classifier.images import open_image
from classifier.model import by_shape

from .classes import TeachingError

_NO_MEMORY = "no hay memoria suficiente para procesar esta imagen"
_HASH_CHUNK = 1 << 20


def classification_layer(model):
    """(dotted name, nn.Linear) of the layer that turns the representation into the class scores:
    the last linear layer with one output per class. None when the model has no such layer."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == model.config.num_labels:
            found = (name, module)
    return found


class Representation:
    """The pooled representation of pictures under one loaded Classifier."""

    def __init__(self, classifier, model_name):
        self.classifier = classifier
        layer = classification_layer(classifier.model)
        if layer is None:
            raise TeachingError(f"No se puede leer la representación del modelo {quoted(model_name)}: no tiene una "
                                "capa de clasificación lineal (una salida por clase) donde aprender las clases "
                                "nuevas; elija otro modelo base con --modelo.")
        self.layer_name, self.layer = layer
        self.model_name = model_name
        self.size = self.layer.in_features
        probe = Image.new("RGB", (64, 48), (128, 96, 64))
        try:
            self.of(classifier.preprocess(probe))
            gives_logits = self._gives_the_logits(classifier.preprocess(probe))
        except TeachingError:
            raise
        except Exception as exc:
            raise self._unreadable("falla con una foto de prueba") from exc
        if not gives_logits:
            # Another head adds to its scores (a distilled model's second head, say): a new layer there
            # would not be all the model answers with.
            raise self._unreadable("no da ella sola las puntuaciones del modelo")

    @torch.inference_mode()
    def _gives_the_logits(self, pixel_values):
        outputs = []
        handle = self.layer.register_forward_hook(lambda module, args, output: outputs.append(output))
        try:
            logits = self.classifier.model(pixel_values=pixel_values.to(self.classifier.device)).logits
        finally:
            handle.remove()
        return len(outputs) == 1 and outputs[0].shape == logits.shape and torch.equal(outputs[0], logits)

    def _unreadable(self, why):
        return TeachingError(f"No se puede leer la representación del modelo {quoted(self.model_name)}: su capa "
                             f"de clasificación {why}; elija otro modelo base con --modelo.")

    def of(self, pixel_values):
        """pixel_values (N, C, H, W) -> (N, size) float32 NumPy rows."""
        captured = []

        def capture(module, args):
            captured.append(args[0].detach().float().cpu())

        handle = self.layer.register_forward_pre_hook(capture)
        try:
            self.classifier.probabilities(pixel_values)  # the program's own forward pass
        finally:
            handle.remove()
        if len(captured) != 1 or captured[0].shape != (len(pixel_values), self.size):
            raise self._unreadable("no recibe una fila de rasgos por foto")
        rows = captured[0].numpy()
        if not np.isfinite(rows).all():
            raise self._unreadable("recibe valores que no son números")
        return rows

    def identity(self):
        """A hash of everything the representation depends on: the weights, the preprocessing, the layer.

        Two folders with the same content share cached rows; a changed weight never reuses them.
        """
        digest = hashlib.sha256()
        digest.update(self.layer_name.encode())
        digest.update(self.classifier.processor.to_json_string().encode())
        for name, tensor in sorted(self.classifier.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(str(tensor.dtype).encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()


def content_hash(path):
    """sha256 of a file's bytes; ImageError (in the program's words) when it cannot be read."""
    from classifier.base.errors import system_reason
    from classifier.base.files import open_regular_file

    digest = hashlib.sha256()
    try:
        with open_regular_file(path) as (file, _):
            while chunk := file.read(_HASH_CHUNK):
                digest.update(chunk)
    except PermissionError:
        raise ImageError(path, "no hay permiso para leer el archivo") from None
    except OSError as exc:
        raise ImageError(path, f"no se pudo leer el archivo ({system_reason(exc)})") from None
    return digest.hexdigest()


def pixels_of(classifier, path):
    """One photo -> its model input, through the program's opener and the Classifier's preprocessing."""
    try:
        return classifier.preprocess(open_image(path))
    except PictureError as exc:
        raise ImageError(path, exc.reason) from None
    except MemoryError:
        raise ImageError(path, _NO_MEMORY) from None


def representations(representation, paths):
    """(path, row or ImageError) per path, in order, a few photos per forward pass; pictures are dropped
    as soon as their input is made, so memory holds one batch whatever the number of photos."""
    batch = []
    for path in paths:
        try:
            batch.append((path, pixels_of(representation.classifier, path)))
        except ImageError as exc:
            yield from _flush(representation, batch)
            batch = []
            yield path, exc
            continue
        if len(batch) >= 8:
            yield from _flush(representation, batch)
            batch = []
    yield from _flush(representation, batch)


def _flush(representation, batch):
    if not batch:
        return
    rows = [None] * len(batch)
    for indices, pixels in by_shape([pixels for _, pixels in batch]):
        for index, row in zip(indices, representation.of(pixels), strict=True):
            rows[index] = row
    for (path, _), row in zip(batch, rows, strict=True):
        yield path, row
