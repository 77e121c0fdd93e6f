"""Load an image classifier once; turn RGB images into sorted (label, score) lists.

Stages: PIL image -> pixel_values (the model's own image processor) -> scores (softmax
probabilities, or one sigmoid per class where the transformers pipeline uses it) ->
top-k predictions. Nothing here prints.
"""

import codecs
import json
import os
import re
import stat
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise

import torch
from PIL import Image

from .. import hub
from ..defaults import DEFAULT_MODEL
from ..errors import ModelLoadError, PictureError, quoted
from ..files import NotSmallRegularFile, kind_of, open_regular_file
from ..labels import DEFAULT_LANGUAGE, display_labels
from ..maps import (
    ATTENTION_DEFAULT,
    GRAD_CAM,
    GRADIENT_ATTENTION,
    Heatmap,
    MapUnavailable,
    attention_maps,
    grad_cam_maps,
)
from ..results import Prediction
from .precision import apply_precision, choose_precision

_GENERIC_LABEL = re.compile(r"LABEL_\d+")
_MAX_BANDS = 4
_BAND_MIN_PIXELS = 1_000_000  # below this, starting threads costs more than it saves
MAX_RESIZED_PIXELS = 16_000_000  # a 1:250 strip at a 256-pixel shortest edge; photos need well under 1 %


class Classifier:
    """A loaded model, its image processor, device and precision; reused for every image."""

    def __init__(self, model, processor, device, dtype, fast=False, language=DEFAULT_LANGUAGE, precision=None):
        self.model = model.eval()
        self.processor = processor
        self.device = device
        self.dtype = dtype
        self.fast = fast
        self.precision = precision  # the fast mode's PrecisionChoice (precision.py); None in the exact mode
        config = model.config
        self.labels = display_labels([str(config.id2label[i]) for i in range(config.num_labels)], language)
        self._resize_to = _plain_resize_target(processor)
        self.scores_of = score_function(config)
        # The input shapes the load's probe ran through the network: a failure on another shape belongs to the
        # picture that gave it, not to the model (Classifier.run_network).
        self._probed_shapes = set()
        self._processor_probed = False
        self._attention = model.config._attn_implementation  # the fast one, kept for runs without maps
        self.attention_method = ATTENTION_DEFAULT  # for ViT-type models
        self.map_method = None  # how this model's maps are drawn, once the first one is
        self._map_error = None
        # Threads start on first use; a photo's resize is split over them.
        self._band_count = min(os.cpu_count() or 1, _MAX_BANDS)
        self._band_pool = ThreadPoolExecutor(max_workers=self._band_count, thread_name_prefix="resize")

    @classmethod
    def load(cls, model=DEFAULT_MODEL, revision=None, device="auto", fast=False,
             download_progress=None, pack=True, language=DEFAULT_LANGUAGE, maps=True):
        """Load from a hub id (downloaded once, then cached) or a save_pretrained folder.

        revision: None means the pinned commit for the default model, else "main".
        fast: the precision that runs fastest here (timed once, then cached: precision.py).
        download_progress: a hub.DownloadProgress told of a download (the first run), if one is needed.
        language: "es" shows ImageNet-1k classes in Spanish; "en" the model's own labels.
        pack: repack the CPU weights for speed (about 0.3 s once, repaid after ~10 images).
        maps: the load's probe computes an attention map too (the runs that draw maps).
        """
        torch_device = resolve_device(device)
        revision = hub.default_revision(model, revision)
        folder = hub.model_folder(model, revision, download_progress)
        try:
            hf_model, processor = _load_folder(folder, model)
        except ModelLoadError:
            # Cached files that fail to load may be damaged ones: downloaded again once, if so.
            repaired = hub.repair(model, revision, folder, download_progress) if hub.is_cached_snapshot(folder) \
                else None
            if repaired is None:
                raise
            hf_model, processor = _load_folder(repaired, model)
        precision = fast_precision(hf_model, processor, torch_device) if fast else None
        dtype = apply_precision(hf_model, precision and precision.name, torch_device, pack)
        classifier = cls(hf_model, processor, torch_device, dtype, fast=fast, language=language, precision=precision)
        classifier.check(model, maps=maps)
        return classifier

    def check(self, name, maps=True):
        """One probe photo through the whole route (preprocess, forward, map, seen region), at load.

        A folder whose settings break on a plain photo would break on every picture: it is
        told once, as «el modelo … está roto: …» (ModelLoadError), before the first real file.
        """
        if getattr(self.model.config, "problem_type", None) == "regression":
            raise ModelLoadError(f"El modelo {quoted(name)} es de regresión (problem_type «regression» en "
                                 "config.json): da valores, no puntuaciones de clases, y este programa clasifica.")
        probe = _probe_photo()
        try:
            pixels = self.preprocess(probe)
        except PictureError:
            width, height = _PROBE_SIZE
            raise _broken(name, f"su preprocesador rechaza una foto normal de {width} × {height} píxeles "
                                "(size, crop_size o crop_pct en preprocessor_config.json piden un tamaño "
                                "imposible)") from None
        except Exception as exc:  # settings that load but fail at use raise anything: ValueError, TypeError...
            raise _broken(name, "su preprocesador (preprocessor_config.json) falla con una foto de prueba") from exc
        try:
            try:
                if not maps:
                    raise MapUnavailable("not asked for")
                probs, _ = self.probabilities_and_maps(pixels)
            except MapUnavailable:  # no map: the batch without --mapa and the window go without
                probs = self.probabilities(pixels)
        except Exception as exc:
            raise _broken(name, "la red falla con la imagen que le prepara su preprocesador (¿config.json y "
                                "preprocessor_config.json piden tamaños distintos?)") from exc
        self._processor_probed = True
        self._probed_shapes.add(tuple(pixels.shape[1:]))
        if not torch.isfinite(probs).all():
            raise _broken(name, "da puntuaciones que no son números con una foto de prueba "
                                "(revise image_std en preprocessor_config.json y los pesos)")
        try:
            self.seen_region(probe)
        except Exception as exc:
            raise _broken(name, "su recorte (crop_size en preprocessor_config.json) no se puede aplicar") from exc

    @property
    def num_labels(self):
        return len(self.labels)

    @property
    def draft_size(self):
        """(width, height) a JPEG may be decoded down to in fast mode; None: full size."""
        return self._resize_to

    def preprocess(self, image):
        """RGB PIL image -> pixel_values (1, C, H, W), equal to the image processor's output.

        The processor converts a large photo to NumPy and back to PIL before it
        resizes; resizing the PIL image first with the same filter (in bands, on
        several cores) gives the same pixels at a fraction of the cost, and the
        processor does the rest.
        """
        self._check_resized_size(image)
        if self._resize_to is not None:
            image = resize_in_bands(image, self._resize_to, self.processor.resample, self._band_pool,
                                    self._band_count)
            return self._process(image, do_resize=False)
        return self._process(image)

    def _process(self, image, **settings):
        """The processor on one picture. Once it has taken the load's probe, what it raises is about this
        picture (its shape is all that differs: every picture reaches it as RGB): a PictureError. Before
        that, it is about the model, and Classifier.check says so."""
        try:
            return self.processor(images=image, return_tensors="pt", **settings)["pixel_values"]
        except MemoryError:
            raise
        except Exception as exc:
            if not self._processor_probed:
                raise
            width, height = image.size
            resized = _resize_bound(self.processor, width, height) if getattr(self.processor, "size", None) else None
            if resized is not None and min(resized) < 1:  # said only once it fails: some processors round up
                raise PictureError(
                    f"la imagen es demasiado alargada ({_thousands(width)} × {_thousands(height)} píxeles) para "
                    "este modelo, que la reduciría a menos de un píxel de ancho o de alto"
                ) from exc
            raise PictureError(f"el preprocesador de este modelo no puede con una imagen de {_thousands(width)} × "
                               f"{_thousands(height)} píxeles") from exc

    def _check_resized_size(self, image):
        """A processor that keeps the aspect ratio would make a 1 x 100000 strip 256 x 25,600,000:
        gigabytes before the crop. Such a picture is refused, in words. A size or crop that would be
        that large for any picture is caught by the load's probe (Classifier.check)."""
        processor = self.processor
        width, height = image.size
        if getattr(processor, "size", None) is not None and getattr(processor, "do_resize", True):
            resized = _resize_bound(processor, max(width, 1), max(height, 1))
            if resized is not None and resized[0] * resized[1] > MAX_RESIZED_PIXELS:
                raise PictureError(
                    f"la imagen es demasiado alargada ({width} × {height} píxeles) para este modelo, que la "
                    f"ampliaría hasta {_thousands(round(resized[0]))} × {_thousands(round(resized[1]))} píxeles"
                )
        crop = getattr(processor, "crop_size", None)
        if getattr(processor, "do_center_crop", False) and crop is not None and (crop.height or 0) * (
                crop.width or 0) > MAX_RESIZED_PIXELS:  # a crop larger than the picture pads it to that size
            raise PictureError(f"el recorte de este modelo mide {_thousands(crop.width)} × "
                               f"{_thousands(crop.height)} píxeles")

    @torch.inference_mode()
    def probabilities(self, pixel_values):
        """pixel_values (N, C, H, W) -> scores (N, num_labels), float32 on the CPU: softmax probabilities, or
        each class's sigmoid for the models the transformers pipeline scores so (score_function)."""
        logits = self.model(pixel_values=pixel_values.to(self.device, self.dtype)).logits
        return self.scores_of(logits.float()).cpu()

    def probabilities_and_maps(self, pixel_values):
        """Like probabilities(), plus each image's map: a list of Heatmap (NumPy values and method).

        The method is the first this model allows, found on the first call and kept: its
        attention (ViT-type models; self.attention_method), else Grad-CAM on the backbone's
        last feature map. MapUnavailable when neither applies. Only the gradient methods
        leave inference mode, and only for this call.
        """
        if self._map_error is not None:
            raise self._map_error
        pixel_values = pixel_values.to(self.device, self.dtype)
        if self.map_method is not None:
            return self._maps_by(self.map_method, pixel_values)
        for method in (self.attention_method, GRAD_CAM):
            try:
                result = self._maps_by(method, pixel_values)
            except MapUnavailable as exc:
                self._map_error = exc
                continue
            self.map_method, self._map_error = method, None
            return result
        self._map_error = MapUnavailable("Este modelo no da ningún mapa de dónde se fijó: ni atención sobre "
                                         "parches ni un mapa de rasgos espacial.")
        raise self._map_error

    def _maps_by(self, method, pixel_values):
        if method is GRAD_CAM:
            probs, maps = grad_cam_maps(self.model, pixel_values, scores=self.scores_of)
        else:
            grid = self._patch_grid(pixel_values)
            # Attention weights come only from the eager attention: switched on for this call alone,
            # so runs without maps keep the fast one.
            try:
                self.model.set_attn_implementation("eager")
            except (ValueError, AttributeError) as exc:
                raise MapUnavailable("Este modelo no puede devolver su atención.") from exc
            try:
                probs, maps = attention_maps(self.model, pixel_values, grid, weighted=method is GRADIENT_ATTENTION,
                                             scores=self.scores_of)
            except TypeError as exc:  # a forward that takes no output_attentions
                raise MapUnavailable("Este modelo no puede devolver su atención.") from exc
            finally:
                self.model.set_attn_implementation(self._attention)
        return probs, [Heatmap(values, method) for values in maps.cpu().numpy()]

    def _patch_grid(self, pixel_values):
        patch = getattr(self.model.config, "patch_size", None)
        if patch is None:
            raise MapUnavailable("Este modelo no trabaja con parches de imagen.")
        patch_height, patch_width = (patch, patch) if isinstance(patch, int) else patch
        return pixel_values.shape[-2] // patch_height, pixel_values.shape[-1] // patch_width

    def seen_region(self, image):
        """The part of a picture the model input covers: all of it, unless the processor crops."""
        crop = _crop_after_resize(self.processor)
        if crop is None:
            return image
        width, height = image.size
        resized = _resize_bound(self.processor, width, height)
        if resized is None:  # a size this program cannot follow: show the whole picture
            return image
        scale_x, scale_y = resized[0] / width, resized[1] / height
        crop_width, crop_height = crop[0] / scale_x, crop[1] / scale_y
        left, top = (width - crop_width) / 2, (height - crop_height) / 2
        return image.crop((round(left), round(top), round(left + crop_width), round(top + crop_height)))

    def top_k(self, probs, k):
        """One row of probabilities -> the k best predictions, highest first (k clamped)."""
        k = min(k, self.num_labels)
        # Stable: equal scores keep label order, as the transformers pipeline does.
        scores, ids = torch.sort(probs, descending=True, stable=True)
        return [Prediction(self.labels[i], s, i) for i, s in zip(ids[:k].tolist(), scores[:k].tolist(), strict=True)]

    def classify(self, images, k):
        """RGB PIL images -> one list of the k best predictions per image."""
        rows = [None] * len(images)
        for indices, pixels in by_shape([self.preprocess(image) for image in images]):
            for index, row in zip(indices, self.probabilities(pixels), strict=True):
                rows[index] = self.top_k(row, k)
        return rows

    def classify_with_maps(self, images, k):
        """RGB PIL images -> (k best predictions, Heatmap) per image."""
        rows = [None] * len(images)
        for indices, pixels in by_shape([self.preprocess(image) for image in images]):
            probs, maps = self.probabilities_and_maps(pixels)
            for index, row, heatmap in zip(indices, probs, maps, strict=True):
                rows[index] = (self.top_k(row, k), heatmap)
        return rows

    def probed(self, pixel_values):
        """Whether the load's probe ran the network on inputs of this shape (a failure on them is the model's)."""
        return tuple(pixel_values.shape[1:]) in self._probed_shapes


def by_shape(inputs):
    """[(indices, stacked inputs)], one per input shape, in order of first appearance.

    A processor that keeps each photo's proportions (BitImageProcessor with no crop) gives inputs of
    different shapes, which cannot be stacked into one batch; a fixed-size one gives a single group.
    """
    groups = {}
    for index, tensor in enumerate(inputs):
        groups.setdefault(tuple(tensor.shape[1:]), []).append(index)
    return [(indices, torch.cat([inputs[i] for i in indices])) for indices in groups.values()]


def score_function(config):
    """logits -> scores, by the transformers pipeline's rule (ImageClassificationPipeline.postprocess, with
    function_to_apply left to its default): one sigmoid per class for a multi-label model or a single-class
    one (a «¿es un perro?» detector, whose softmax would always be 1), softmax over the classes otherwise."""
    if getattr(config, "problem_type", None) == "multi_label_classification" or config.num_labels == 1:
        return torch.sigmoid
    return _softmax


def _softmax(logits):
    return torch.softmax(logits, dim=-1)


_PROBE_SIZE = (640, 480)  # a plain photo's shape, small enough to cost a few milliseconds


def _probe_photo():
    """A smooth colour picture of _PROBE_SIZE: what any image classifier must take."""
    width, height = _PROBE_SIZE
    ramp = Image.linear_gradient("L")
    size = (width, height)
    return Image.merge("RGB", (ramp.resize(size), ramp.rotate(90).resize(size), Image.new("L", size, 128)))


def _broken(name, reason):
    return ModelLoadError(f"El modelo {quoted(name)} está roto: {reason}.")


def _thousands(number):
    """12,345,678 as Spanish writes it: 12.345.678."""
    return f"{number:,}".replace(",", ".")


def _resized_size(size, width, height):
    """(width, height) the processor's resize gives a width x height picture, as floats; None if unknown."""
    if size.height and size.width:
        return size.width, size.height
    if size.shortest_edge:
        scale = size.shortest_edge / min(width, height)
        if size.longest_edge:
            scale = min(scale, size.longest_edge / max(width, height))
    elif size.max_height and size.max_width:  # fitted into a box, aspect kept
        scale = min(size.max_height / height, size.max_width / width)
    elif size.longest_edge:
        scale = size.longest_edge / max(width, height)
    else:
        return None
    return width * scale, height * scale


def _crop_after_resize(processor):
    """(width, height) of the centre crop the processor takes after its resize; None when it takes none."""
    from transformers.models.convnext.image_processing_pil_convnext import ConvNextImageProcessorPil

    size = getattr(processor, "size", None)
    if isinstance(processor, ConvNextImageProcessorPil):
        # Its resize crops shortest_edge x shortest_edge below 384 pixels, and warps without a crop above.
        edge = size.shortest_edge if size is not None and getattr(processor, "do_resize", True) else None
        return (edge, edge) if edge and edge < 384 else None
    crop = getattr(processor, "crop_size", None)
    if not getattr(processor, "do_center_crop", False) or not crop or not crop.height or size is None:
        return None
    return crop.width, crop.height


def _resize_bound(processor, width, height):
    """(width, height) of the largest picture the processor's resize makes of a width x height one; None if
    unknown. A crop_pct (ConvNeXT, PoolFormer) resizes to size / crop_pct before cropping back to size: a
    crop_pct of 0.0015 turns a 32-pixel shortest edge into 21,333 pixels."""
    from transformers.image_processing_backends import SizeDict
    from transformers.models.poolformer.image_processing_pil_poolformer import PoolFormerImageProcessorPil

    size = processor.size
    crop_pct = getattr(processor, "crop_pct", None)
    if type(processor).__name__.startswith("ConvNextImageProcessor") and (size.shortest_edge or 0) >= 384:
        return size.shortest_edge, size.shortest_edge  # ConvNeXT warps to a square there, crop_pct unused
    if isinstance(processor, PoolFormerImageProcessorPil) and crop_pct is not None and size.height and \
            size.height == size.width and not size.shortest_edge:
        # PoolFormer reads a square size with a crop_pct as a shortest edge: proportions kept.
        resized = _resized_size(SizeDict(shortest_edge=size.height), width, height)
    else:
        resized = _resized_size(size, width, height)
    if resized is None or isinstance(crop_pct, bool) or not isinstance(crop_pct, int | float) or not 0 < crop_pct < 1:
        return resized  # no crop_pct, or one that does not enlarge (a bad one fails the load's probe)
    return resized[0] / crop_pct, resized[1] / crop_pct


def resize_in_bands(image, size, resample, pool, bands):
    """image.resize(size, resample), byte for byte, with the costly pass spread over threads.

    Pillow resizes in two passes. When it runs the horizontal pass first (Pillow 13
    runs the vertical one first only when the height shrinks more than twice as much
    as the width; older versions never do), that pass applied to bands of rows, then
    the vertical pass on the reassembled middle image, gives the same bytes: each
    output pixel sees the same source pixels and the same filter coefficients.
    """
    width, height = size
    source_width, source_height = image.size
    vertical_first = source_height - height > 0 and source_height - height > (source_width - width) * 2
    if (vertical_first or bands < 2 or width == source_width or height == source_height
            or source_width * source_height < _BAND_MIN_PIXELS):
        return image.resize(size, resample=resample)
    edges = [source_height * i // bands for i in range(bands + 1)]
    strips = pool.map(
        lambda rows: image.resize((width, rows[1] - rows[0]), resample=resample,
                                  box=(0, rows[0], source_width, rows[1])),
        pairwise(edges),
    )
    middle = Image.new(image.mode, (width, source_height))
    for top, strip in zip(edges[:-1], strips, strict=True):
        middle.paste(strip, (0, top))
    return middle.resize(size, resample=resample, box=(0, 0, width, source_height))


def _plain_resize_target(processor):
    """(width, height) when the processor only resizes to a fixed size with PIL, else None."""
    from transformers.image_processing_backends import PilBackend

    kind = type(processor)
    if not (isinstance(processor, PilBackend) and processor.do_resize
            and kind.resize is PilBackend.resize and kind._preprocess is PilBackend._preprocess):
        return None
    size = processor.size
    return (size.width, size.height) if size.height and size.width else None


def resolve_device(name):
    """'auto' -> cuda, then mps, then cpu; an explicit device must be present."""
    has_mps = torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("Se pidió --dispositivo cuda, pero PyTorch no encuentra ninguna GPU CUDA en este equipo.")
    if name == "mps" and not has_mps:
        raise ModelLoadError("Se pidió --dispositivo mps, pero este equipo no tiene una GPU Apple (MPS) disponible.")
    if name not in ("cpu", "cuda", "mps"):
        raise ModelLoadError(f"Dispositivo desconocido {quoted(name)}: use auto, cpu, cuda o mps.")
    return torch.device(name)


def fast_precision(model, processor, device, cache_file=None, timer=None, candidates=None):
    """The fast mode's PrecisionChoice: measured on this device with the model's own layers (precision.py)."""
    sample = processor(images=Image.new("RGB", (64, 64), (128, 128, 128)), return_tensors="pt")["pixel_values"]
    return choose_precision(model, sample, device, cache_file=cache_file, timer=timer, candidates=candidates)


@contextmanager
def _weight_progress_bars_hidden():
    """transformers' «Loading weights» bar is English and says nothing a user needs: never shown."""
    from transformers.utils import logging as hf_logging

    was_shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_shown:
            hf_logging.enable_progress_bar()


_SETTINGS_BYTES = 16 * 1024 * 1024  # a config.json is a few KB; a larger "settings file" is not one
# An image classifier's safetensors header lists a few hundred tensors in ~100 KB (safetensors itself allows 100 MB).
_HEADER_BYTES = 16 * 1024 * 1024
_SPARE_TENSORS = 64  # what a network may register beyond twice its stored tensors (tied weights, buffers)
_FLOAT_DTYPES = ("F", "BF")  # safetensors' floating types: F64, F32, F16, BF16, F8_E4M3...; not I*, U*, BOOL, C64
# Settings of config.json that count layers or blocks (depths [3, 3, 9, 3], num_hidden_layers 12, num_block_repeats...).
_BLOCK_COUNT = re.compile(r"(depths?|layers|blocks|repeats|stages)$")


class _NotPlain(Exception):
    """A file of the folder that is a pipe, a device, a folder or too large to be what it says; args[0]
    says what it is, in Spanish («no es un archivo normal, sino una tubería (FIFO)»)."""


class _ByteOrderMark(_NotPlain):
    """A settings file that starts with UTF-8's byte order mark (Windows Notepad's «UTF-8»): transformers
    reads it as text and its JSON parser stops at the mark."""


class _DamagedWeights(Exception):
    """A safetensors header that does not describe the file it heads."""


class _TooManyTensors(Exception):
    """Building a network registered more tensors than its weights file could fill."""


def _too_large(limit):
    return f"mide más de {limit // (1024 * 1024)} MB, y un archivo de ajustes ocupa unos KB"


@contextmanager
def _plain_file(path, limit=None):
    """(file, size) of path opened for reading, once known to be a plain file of at most limit bytes.

    Looked at before it is opened (a device is named, never opened) and again once open, in case
    it was swapped (files.open_regular_file). FileNotFoundError when missing, PermissionError when
    unreadable; _NotPlain for a pipe, a device, a folder or a file over limit.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise _NotPlain(f"no es un archivo normal, sino {kind_of(mode)}")
    try:
        with open_regular_file(path, limit) as (file, info):
            yield file, info.st_size
    except NotSmallRegularFile as exc:
        raise _NotPlain(_too_large(limit) if stat.S_ISREG(exc.mode) else f"no es un archivo normal, sino "
                        f"{kind_of(exc.mode)}") from None


def _read_settings(path):
    """The JSON value a settings file holds, read bounded; None when it is not JSON (transformers'
    own reading reports that). As _plain_file, and _ByteOrderMark."""
    with _plain_file(path, _SETTINGS_BYTES) as (file, _):
        data = file.read(_SETTINGS_BYTES + 1)
    if len(data) > _SETTINGS_BYTES:  # it grew while it was read
        raise _NotPlain(_too_large(_SETTINGS_BYTES))
    if data.startswith(codecs.BOM_UTF8):
        raise _ByteOrderMark("empieza con la marca BOM que añaden algunos editores de Windows; guárdelo como UTF-8 "
                             "sin BOM")
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's limit
        return None


def _header_tensors(path):
    """{name: (shape, floating)} from a safetensors file's header alone: 8 bytes of length, then JSON, bounded.

    _DamagedWeights when the header does not describe the file (cut short, offsets past its end).
    """
    with _plain_file(path) as (file, size):
        start = file.read(8)
        length = int.from_bytes(start, "little") if len(start) == 8 else -1
        if not 0 < length <= min(_HEADER_BYTES, size - 8):
            raise _DamagedWeights(path)
        text = file.read(length)
    try:
        header = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):
        raise _DamagedWeights(path) from None
    if not isinstance(header, dict):
        raise _DamagedWeights(path)
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        if not (isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape) and isinstance(dtype, str)
                and isinstance(offsets, list) and len(offsets) == 2
                and all(type(n) is int and 0 <= n <= size - 8 - length for n in offsets)):
            raise _DamagedWeights(path)
        tensors[name] = (tuple(shape), dtype.startswith(_FLOAT_DTYPES))
    return tensors


def _stored_tensors(folder):
    """{name: (shape, floating)} of every tensor the weights that transformers would read hold, from their headers:
    model.safetensors, else the shards model.safetensors.index.json names. None when there are neither
    (transformers then finds no weights, and says so). _NotPlain («model.safetensors no es…»),
    _DamagedWeights."""
    single = os.path.join(folder, "model.safetensors")
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.lexists(single):
        files = ["model.safetensors"]
    elif os.path.lexists(index):
        try:
            weight_map = _read_settings(index)
        except _NotPlain as exc:
            raise type(exc)(f"model.safetensors.index.json {exc}") from None
        except PermissionError:
            raise
        except OSError:  # a link to itself or to nothing, a disk error
            raise _DamagedWeights(index) from None
        weight_map = weight_map.get("weight_map") if isinstance(weight_map, dict) else None
        if not isinstance(weight_map, dict) or not all(
                isinstance(shard, str) and shard not in ("", ".", "..") and os.path.basename(shard) == shard
                and "\\" not in shard for shard in weight_map.values()):
            raise _DamagedWeights(index)  # a shard outside the folder is not this model's
        files = sorted(set(weight_map.values()))
    else:
        return None
    tensors = {}
    for name in files:
        try:
            tensors.update(_header_tensors(os.path.join(folder, name)))
        except _NotPlain as exc:
            raise _NotPlain(f"{name} {exc}") from None
        except PermissionError:
            raise
        except OSError:  # missing or unreadable: transformers' reading says so
            raise _DamagedWeights(name) from None
    return tensors


def _network_tensors(config, budget):
    """{name: (shape, floating)} of the state dict of the network config describes, built on the meta device
    (shapes without memory); None when building it registers more than budget tensors.

    A config.json asking for a million layers is stopped after a few: built in full, even
    without memory for the weights, its modules alone took a minute and gigabytes.
    """
    from torch.nn.modules import module as torch_module
    from transformers import AutoModelForImageClassification

    registered = 0

    def count(module, name, value):
        nonlocal registered
        if value is not None:
            registered += 1
            if registered > budget:
                raise _TooManyTensors

    hooks = [torch_module.register_module_parameter_registration_hook(count),
             torch_module.register_module_buffer_registration_hook(count)]
    try:
        with torch.device("meta"):
            network = AutoModelForImageClassification.from_config(config, trust_remote_code=False)
    except _TooManyTensors:
        return None
    finally:
        for hook in hooks:
            hook.remove()
    if registered > budget:  # stopped, even if some code on the way swallowed the exception
        return None
    tensors, seen = {}, set()
    for name, tensor in network.state_dict(keep_vars=True).items():
        if id(tensor) not in seen:  # a tied weight is stored once
            seen.add(id(tensor))
            tensors[name] = (tuple(tensor.shape), tensor.is_floating_point())
    return tensors


def _block_counts(raw, prefix=""):
    """(setting, blocks) for each setting of a config.json dict that counts layers or blocks, sub-configs
    (vision_config...) included, label2id not: depths [3, 3, 9, 3] counts 18. min_depth and max_depth are
    channel counts and ranges."""
    for key, value in raw.items():
        if isinstance(value, dict) and key.endswith("_config"):
            yield from _block_counts(value, f"{prefix}{key}.")
        elif _BLOCK_COUNT.search(key) and not key.startswith(("min_", "max_")):
            numbers = value if isinstance(value, list) else [value]
            yield prefix + key, sum(n for n in numbers if type(n) is int and n > 0)


def _check_network_fits(config, stored, name, raw=None):
    """Refuse a config.json whose network the weights cannot fill, before transformers builds it.

    raw: config.json's dict. Its layer and block counts are compared first: every layer or block has
    tensors of its own, and some networks compute a list as long as all their blocks before they
    build any (ConvNeXt's drop-path rates: 4 GB for depths of 100 million).
    By shapes, not names: transformers renames keys as it loads them (its ViT's layers are
    vit.layers.N where files say vit.encoder.layer.N); the exact names are checked after the
    load, from transformers' own account (missing, mismatched and unexpected keys).
    """
    budget = 2 * len(stored) + _SPARE_TENSORS
    too_large = f"su config.json describe una red de más de {_thousands(budget)} tensores"
    for setting, blocks in _block_counts(raw if isinstance(raw, dict) else {}):
        if blocks > budget:
            raise _broken(name, f"{too_large} ({setting} pide {_thousands(blocks)} capas o bloques), y sus pesos "
                                f"solo guardan {_thousands(len(stored))}")
    try:
        network = _network_tensors(config, budget)
    except Exception as exc:  # transformers' own load would build the same network and fail the same way
        raise _broken(name, "su config.json describe una red que no se puede construir") from exc
    if network is None:
        raise _broken(name, f"{too_large}, y sus pesos solo guardan {_thousands(len(stored))}")
    available = Counter(stored.values())
    lacking = []
    # Decimals first: a whole-number buffer (BatchNorm's num_batches_tracked) may take a stored decimal,
    # as transformers converts it; a decimal weight may not take a whole number.
    for kind in sorted(network.values(), key=lambda kind: not kind[1]):
        shape, floating = kind
        match = next((option for option in ((kind,) if floating else (kind, (shape, True))) if available[option]),
                     None)
        if match is None:
            if not floating and shape == ():  # a step counter (num_batches_tracked): no part of inference
                continue
            lacking.append(kind)
        else:
            available[match] -= 1
    if not lacking:
        return
    stored_kinds = Counter(stored.values())
    # transformers would turn whole numbers or booleans into decimals without a word: not a trained model's weights.
    whole = next((shape for shape, floating in lacking if floating and stored_kinds[shape, False]), None)
    if whole is not None:
        raise _broken(name, "sus pesos guardan números enteros o booleanos donde la red lleva números decimales "
                            f"(como en un tensor de {_dimensions(whole)}), y los pesos de un modelo son decimales")
    shape = lacking[0][0]
    raise _broken(name, f"sus pesos no corresponden a su config.json ({_thousands(len(lacking))} de los "
                        f"{_thousands(len(network))} tensores de la red que describe no están en ellos con su "
                        f"forma, como uno de {_dimensions(shape)})")


def _dimensions(shape):
    return " × ".join(map(_thousands, shape)) or "1"


def _unreadable(name, file_name):
    return ModelLoadError(f"No hay permiso para leer el archivo {file_name} del modelo {quoted(name)}.")


def _names_own_code(settings):
    """True when a settings dict, or processor_config.json's «image_processor» in it, has an auto_map:
    code of the model's own that transformers would offer to run."""
    nested = settings.get("image_processor") if isinstance(settings, dict) else None
    return isinstance(settings, dict) and "auto_map" in settings or isinstance(nested, dict) and "auto_map" in nested


def _unnamed_classes(name, detail):
    return ModelLoadError(f"El archivo config.json del modelo {quoted(name)} no da un nombre a cada una de sus "
                          f"clases ({detail}).")


def _is_class_number(key):
    try:
        int(key)
    except (TypeError, ValueError):
        return False
    return True


def _load_folder(folder, name):
    """Config, weights (safetensors only) and image processor from a local folder."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    try:
        os.listdir(folder)
    except PermissionError:
        raise ModelLoadError(f"No hay permiso para abrir la carpeta del modelo {quoted(name)}.") from None
    except OSError:  # a folder gone or unreadable otherwise: the files below say what is missing
        pass
    settings = {}
    # Every settings file transformers reads, read bounded first: processor_config.json (read even
    # beside preprocessor_config.json, and preferred when it holds an «image_processor») once took 5 GB.
    # model.safetensors.index.json is read bounded with the weights' headers (_stored_tensors).
    for file_name in ("config.json", "preprocessor_config.json", "processor_config.json"):
        try:
            settings[file_name] = _read_settings(os.path.join(folder, file_name))
        except (FileNotFoundError, NotADirectoryError):
            if file_name == "config.json":
                raise ModelLoadError(
                    f"La carpeta {quoted(name)} no contiene un modelo de Hugging Face (falta config.json)."
                ) from None
            settings[file_name] = None  # AutoImageProcessor says it is missing
        except PermissionError:
            raise _unreadable(name, file_name) from None
        except _NotPlain as exc:
            raise _broken(name, f"su {file_name} {exc}") from None
        except OSError:  # unreadable: transformers' own reading reports it
            settings[file_name] = None
        # Before transformers reads either file: given an auto_map it may ask on stdout whether to run its code.
        if _names_own_code(settings[file_name]):
            raise ModelLoadError(
                f"El modelo {quoted(name)} trae su propio código Python (auto_map en {file_name}); por seguridad "
                "este programa no carga esos modelos: nunca ejecuta código que venga con un modelo."
            )
    nested = settings["processor_config.json"]
    processor_file = "processor_config.json" if isinstance(nested, dict) and "image_processor" in nested \
        else "preprocessor_config.json"  # the one transformers takes the image processor from
    raw = settings["config.json"]
    raw_labels = raw.get("id2label") if isinstance(raw, dict) else None
    if raw_labels is not None and not (isinstance(raw_labels, dict) and all(map(_is_class_number, raw_labels))):
        raise _unnamed_classes(name, "id2label debe ir de 0 al número de clases menos uno")
    try:
        config = AutoConfig.from_pretrained(folder, trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(f"El archivo config.json del modelo {quoted(name)} está dañado o no se reconoce.") from exc
    if config.model_type not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
        raise ModelLoadError(
            f"El modelo {quoted(name)} es de tipo «{config.model_type}» y no es un clasificador de imágenes."
        )
    labels = getattr(config, "id2label", None) or {}
    if set(labels) != set(range(getattr(config, "num_labels", len(labels)))):
        raise _unnamed_classes(name, "id2label debe ir de 0 al número de clases menos uno")
    # A name is text, or a whole number (a digit model's «7», shown as written); null, a list, an object,
    # true or 2.5 would be shown as Python writes them («None», «[1, 2]», «True»).
    unnamed = [i for i in sorted(labels) if not (isinstance(labels[i], str) and labels[i].strip()
                                                 or type(labels[i]) is int)]
    if unnamed:
        label = labels[unnamed[0]]
        what = "está vacío" if isinstance(label, str) else "no lo es"
        raise _unnamed_classes(name, f"cada nombre de id2label debe ser un texto, y el de la clase {unnamed[0]} "
                                     f"{what}")
    if not labels or all(_GENERIC_LABEL.fullmatch(str(label)) for label in labels.values()):
        raise ModelLoadError(
            f"El modelo {quoted(name)} no trae los nombres de sus clases (id2label en config.json): "
            "sus predicciones no se podrían leer."
        )
    files = os.listdir(folder)
    if not any(f.endswith(".safetensors") for f in files):
        pickled = any(f.endswith((".bin", ".pt", ".pth", ".ckpt")) for f in files)
        raise ModelLoadError(
            f"El modelo {quoted(name)} solo trae pesos en formato pickle; por seguridad solo se cargan pesos "
            ".safetensors."
            if pickled else f"La carpeta del modelo {quoted(name)} no contiene los pesos (model.safetensors)."
        )
    damaged = ModelLoadError(
        f"Los pesos del modelo {quoted(name)} están dañados, incompletos o no corresponden a su config.json."
    )
    try:
        stored = _stored_tensors(folder)
    except PermissionError as exc:
        raise _unreadable(name, os.path.basename(exc.filename or "model.safetensors")) from None
    except _NotPlain as exc:
        raise _broken(name, f"su {exc}") from None
    except _DamagedWeights:
        raise damaged from None
    if stored is not None:
        _check_network_fits(config, stored, name, raw)
    try:
        with _weight_progress_bars_hidden():
            model, info = AutoModelForImageClassification.from_pretrained(
                folder, config=config, use_safetensors=True, trust_remote_code=False, output_loading_info=True
            )
    except Exception as exc:
        raise damaged from exc
    # "return_dict": false in config.json only makes the network answer in tuples, which its own
    # submodules and transformers' pipeline then fail on; the numbers are the same either way.
    model.config.return_dict = True
    # BatchNorm's step counters are left out by some converters; inference never reads them.
    missing = [key for key in info.get("missing_keys") or () if not key.endswith(".num_batches_tracked")]
    if missing or info.get("mismatched_keys"):
        # transformers would fill the gaps with random numbers: the answers would be noise.
        raise ModelLoadError(
            f"Los pesos del modelo {quoted(name)} no corresponden a su config.json "
            "(faltan tensores o no tienen la forma esperada); sus predicciones serían aleatorias."
        )
    # Tensors the network has no place for are dropped by transformers: a checkpoint with more layers than
    # config.json says would answer as another network. Non-persistent buffers (position ids in older
    # checkpoints) are computed by the network itself; transformers already drops the ones it knows.
    computed = {key for key, _ in model.named_buffers()} - set(model.state_dict())
    unexpected = sorted(set(info.get("unexpected_keys") or ()) - computed)
    if unexpected:
        raise _broken(name, f"sus pesos no corresponden a su config.json (traen {_thousands(len(unexpected))} "
                            "tensores que la red que describe no tiene), y sus respuestas no serían las del modelo "
                            "guardado")
    try:
        processor = AutoImageProcessor.from_pretrained(folder, backend="pil", trust_remote_code=False)
    except Exception as exc:
        raise ModelLoadError(
            f"El modelo {quoted(name)} no trae un preprocesador de imágenes válido ({processor_file})."
        ) from exc
    return model, processor
