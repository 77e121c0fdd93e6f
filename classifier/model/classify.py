"""The loaded classifier: RGB pictures -> pixel_values (the model's own image processor) -> scores (softmax
probabilities, or one sigmoid per class where the transformers pipeline uses it) -> top-k predictions,
and the maps of where the model looked. Nothing here prints."""

import os
from concurrent.futures import ThreadPoolExecutor

import torch
from PIL import Image

from classifier.base.defaults import DEFAULT_MODEL
from classifier.base.errors import ModelLoadError, PictureError, quoted
from classifier.base.labels import DEFAULT_LANGUAGE, display_labels
from classifier.base.results import Prediction
from classifier.base.spanish import thousands
from classifier.hub import cache
from classifier.hub import locate as hub

from ..maps import (
    ATTENTION_DEFAULT,
    GRAD_CAM,
    GRADIENT_ATTENTION,
    Heatmap,
    MapUnavailable,
    attention_maps,
    grad_cam_maps,
)
from .device import fast_precision, resolve_device
from .folder import load_folder
from .geometry import MAX_RESIZED_PIXELS, crop_after_resize, plain_resize_target, resize_bound, resize_in_bands
from .precision import apply_precision
from .refusals import broken

_MAX_BANDS = 4


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
        self._resize_to = plain_resize_target(processor)
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
        download_progress: a DownloadProgress (hub/download_progress.py) told of a download (the first run),
            if one is needed.
        language: "es" shows ImageNet-1k classes in Spanish; "en" the model's own labels.
        pack: repack the CPU weights for speed (about 0.3 s once, repaid after ~10 images).
        maps: the load's probe computes an attention map too (the runs that draw maps).
        """
        torch_device = resolve_device(device)
        revision = hub.default_revision(model, revision)
        folder = hub.model_folder(model, revision, download_progress)
        try:
            hf_model, processor = load_folder(folder, model)
        except ModelLoadError:
            # Cached files that fail to load may be damaged ones: downloaded again once, if so.
            repaired = hub.repair(model, revision, folder, download_progress) if cache.is_cached_snapshot(folder) \
                else None
            if repaired is None:
                raise
            hf_model, processor = load_folder(repaired, model)
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
            raise broken(name, f"su preprocesador rechaza una foto normal de {width} × {height} píxeles "
                               "(size, crop_size o crop_pct en preprocessor_config.json piden un tamaño "
                               "imposible)") from None
        except Exception as exc:  # settings that load but fail at use raise anything: ValueError, TypeError...
            raise broken(name, "su preprocesador (preprocessor_config.json) falla con una foto de prueba") from exc
        try:
            try:
                if not maps:
                    raise MapUnavailable("not asked for")
                probs, _ = self.probabilities_and_maps(pixels)
            except MapUnavailable:  # no map: the batch without --mapa and the window go without
                probs = self.probabilities(pixels)
        except Exception as exc:
            raise broken(name, "la red falla con la imagen que le prepara su preprocesador (¿config.json y "
                               "preprocessor_config.json piden tamaños distintos?)") from exc
        self._processor_probed = True
        self._probed_shapes.add(tuple(pixels.shape[1:]))
        if not torch.isfinite(probs).all():
            raise broken(name, "da puntuaciones que no son números con una foto de prueba "
                               "(revise image_std en preprocessor_config.json y los pesos)")
        try:
            self.seen_region(probe)
        except Exception as exc:
            raise broken(name, "su recorte (crop_size en preprocessor_config.json) no se puede aplicar") from exc

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
            resized = resize_bound(self.processor, width, height) if getattr(self.processor, "size", None) else None
            if resized is not None and min(resized) < 1:  # said only once it fails: some processors round up
                raise PictureError(
                    f"la imagen es demasiado alargada ({thousands(width)} × {thousands(height)} píxeles) para "
                    "este modelo, que la reduciría a menos de un píxel de ancho o de alto"
                ) from exc
            raise PictureError(f"el preprocesador de este modelo no puede con una imagen de {thousands(width)} × "
                               f"{thousands(height)} píxeles") from exc

    def _check_resized_size(self, image):
        """A processor that keeps the aspect ratio would make a 1 x 100000 strip 256 x 25,600,000:
        gigabytes before the crop. Such a picture is refused, in words. A size or crop that would be
        that large for any picture is caught by the load's probe (Classifier.check)."""
        processor = self.processor
        width, height = image.size
        if getattr(processor, "size", None) is not None and getattr(processor, "do_resize", True):
            resized = resize_bound(processor, max(width, 1), max(height, 1))
            if resized is not None and resized[0] * resized[1] > MAX_RESIZED_PIXELS:
                raise PictureError(
                    f"la imagen es demasiado alargada ({width} × {height} píxeles) para este modelo, que la "
                    f"ampliaría hasta {thousands(round(resized[0]))} × {thousands(round(resized[1]))} píxeles"
                )
        crop = getattr(processor, "crop_size", None)
        if getattr(processor, "do_center_crop", False) and crop is not None and (crop.height or 0) * (
                crop.width or 0) > MAX_RESIZED_PIXELS:  # a crop larger than the picture pads it to that size
            raise PictureError(f"el recorte de este modelo mide {thousands(crop.width)} × "
                               f"{thousands(crop.height)} píxeles")

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
        crop = crop_after_resize(self.processor)
        if crop is None:
            return image
        width, height = image.size
        resized = resize_bound(self.processor, width, height)
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
        return self._rows_by_shape(images, lambda pixels: [self.top_k(row, k) for row in self.probabilities(pixels)])

    def classify_with_maps(self, images, k):
        """RGB PIL images -> (k best predictions, Heatmap) per image."""
        def rows(pixels):
            probs, maps = self.probabilities_and_maps(pixels)
            return [(self.top_k(row, k), heatmap) for row, heatmap in zip(probs, maps, strict=True)]

        return self._rows_by_shape(images, rows)

    def _rows_by_shape(self, images, rows_of):
        """rows_of(stacked inputs of one shape) -> one row per input; the rows come back in the images' order."""
        rows = [None] * len(images)
        for indices, pixels in by_shape([self.preprocess(image) for image in images]):
            for index, row in zip(indices, rows_of(pixels), strict=True):
                rows[index] = row
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
