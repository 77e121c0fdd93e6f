"""The one route from a path to a Result, for the batch and the desktop alike.

path -> image (open_image) -> model inputs -> probabilities (and attention map) ->
Result with the top-k predictions and, when asked, display-size pictures. Whatever
one mode does to an image (fast-mode JPEG drafts, crops, maps), the other does too.
"""

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import torch

from classifier.base.errors import ClassifierError, ImageError, PictureError
from classifier.base.results import Result
from classifier.engine import memory
from classifier.images import display_copy, open_image, pixel_count
from classifier.maps import MapUnavailable
from classifier.model import by_shape

MAPS_IF_POSSIBLE = "auto"  # maps= value, the same as True: the map when the model has one, else none
# Larger batches gain nothing on a CPU and hold every decoded picture at once: --lote 100000
# on 2,000 photos would keep them all in memory before printing a line.
MAX_BATCH = 64
# A picture this large (a 16-bit scan of 9400 x 9400, say) takes hundreds of MB while it is
# decoded and converted: one at a time, whatever the number of decode threads.
BIG_PICTURE_PIXELS = 40_000_000
_BIG_PICTURES = threading.Lock()
_NOT_NUMBERS = "el modelo dio puntuaciones que no son números con esta imagen"
# The load's probe ran the network on another input shape; this one, which the picture's proportions gave, fails.
_NO_MEMORY = "no hay memoria suficiente para procesar esta imagen"
_UNFIT_INPUT = ("la red de este modelo no acepta la entrada de {width} × {height} píxeles que su preprocesador "
                "hace de ella")


class Engine:
    """A loaded classifier and what each result holds; reused for every path.

    maps: draw each image's map (a Heatmap) when the model gives one. A model that
    gives none is classified all the same: on_no_map(MapUnavailable) is called once
    and no map is asked for again. pictures: keep display-size copies of each
    picture (the window and the map files draw them); implied by maps.
    """

    def __init__(self, classifier, top_k, maps=False, pictures=False, on_no_map=None):
        self.classifier = classifier
        self.top_k = top_k
        self.maps = bool(maps)
        self.pictures = pictures or bool(maps)
        self.on_no_map = on_no_map

    def classify(self, path):
        """One path -> its Result (an error Result when the file cannot be classified)."""
        [result] = self.run([(path, None)], batch_size=1, workers=1)
        return result

    def run(self, inputs, batch_size, workers=None, in_flight=None):
        """Yield one Result per (path, error) input, in input order.

        Worker threads decode and preprocess the next images (Pillow and NumPy release
        the GIL) while the model runs on the current batch. A file that fails becomes
        an error Result; the run goes on. in_flight caps the files decoded ahead
        (default: one batch plus one per worker), which bounds memory whatever batch_size.
        """
        batch_size = min(batch_size, MAX_BATCH)
        fast = self.classifier.fast
        # One full-size decode at a time: a 12-megapixel photo takes 48 MB, and a second one in
        # flight lifts peak memory past the pipeline's for about 10 % more throughput. Reduced
        # decodes (fast mode) are small: one per core.
        workers = workers or (min(4, os.cpu_count() or 1) if fast else 1)
        lookahead = in_flight or batch_size + workers
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
        pending = deque()  # (path, future or error), in input order
        inputs = iter(inputs)
        try:
            while True:
                for path, error in inputs:
                    pending.append((path, error if error is not None else
                                    pool.submit(self._load, path, one_big_at_a_time=workers > 1)))
                    if len(pending) >= lookahead:
                        break
                if not pending:
                    return
                batch = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
                yield from self._run_batch(batch)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _load(self, path, one_big_at_a_time=False):
        """File -> (pixel_values, picture, seen); pictures are None unless asked for.

        one_big_at_a_time: other threads decode too, so a giant picture waits for the others'.
        """
        try:
            return self._load_picture(path, one_big_at_a_time)
        except PictureError as exc:
            raise ImageError(path, exc.reason) from None
        except MemoryError:
            raise ImageError(path, _NO_MEMORY) from None

    def _load_picture(self, path, one_big_at_a_time):
        classifier = self.classifier
        big = one_big_at_a_time and pixel_count(path) > BIG_PICTURE_PIXELS  # a look at the header only
        with _BIG_PICTURES if big else nullcontext():
            image = open_image(path, min_size=classifier.draft_size if classifier.fast else None)
            pixels = classifier.preprocess(image)
            if not self.pictures:
                return pixels, None, None
            seen = classifier.seen_region(image)
            picture = display_copy(image)
            return pixels, picture, picture if seen is image else display_copy(seen)

    def pictures_of(self, path):
        """The display-size picture of one file and the part the model saw, read again (the window
        keeps them only for the pages near the one shown)."""
        try:
            image = open_image(path)
            seen = self.classifier.seen_region(image)
            picture = display_copy(image)
            return picture, picture if seen is image else display_copy(seen)
        except PictureError as exc:
            raise ImageError(path, exc.reason) from None
        except MemoryError:
            raise ImageError(path, _NO_MEMORY) from None

    def _run_batch(self, batch):
        results = [None] * len(batch)
        ready, loaded = [], []
        for index, (path, job) in enumerate(batch):
            if isinstance(job, ClassifierError):
                results[index] = Result(path, error=str(job))
                continue
            try:
                loaded.append(job.result())
                ready.append(index)
            except ClassifierError as exc:
                results[index] = Result(path, error=str(exc))
        if loaded:
            memory.give_back()  # the decoded photos are gone: their pages are not needed by the forward pass
            # Inputs of one shape run together (a processor that keeps proportions gives several shapes).
            for group, pixels in by_shape([item[0] for item in loaded]):
                try:
                    probs, heatmaps = self._forward(pixels)
                except Exception as exc:
                    if _out_of_memory(exc):
                        reason = _NO_MEMORY
                    elif self.classifier.probed(pixels):  # the load's probe ran this shape: the model is at fault
                        raise
                    else:
                        reason = _UNFIT_INPUT.format(height=pixels.shape[-2], width=pixels.shape[-1])
                    for position in group:
                        path = batch[ready[position]][0]
                        results[ready[position]] = Result(path, error=str(ImageError(path, reason)))
                    continue
                for position, row, heatmap in zip(group, probs, heatmaps, strict=True):
                    index, (_, picture, seen) = ready[position], loaded[position]
                    path = batch[index][0]
                    if not torch.isfinite(row).all():  # the load's probe passed: this picture alone broke the model
                        results[index] = Result(path, error=str(ImageError(path, _NOT_NUMBERS)))
                        continue
                    results[index] = Result(path, predictions=self.classifier.top_k(row, self.top_k),
                                            heatmap=heatmap, picture=picture, seen=seen)
        return results

    def _forward(self, pixels):
        if self.maps:
            try:
                return self.classifier.probabilities_and_maps(pixels)
            except MapUnavailable as exc:
                self.maps = False  # this model has no map: ask no more
                if self.on_no_map is not None:
                    self.on_no_map(exc)
        return self.classifier.probabilities(pixels), [None] * len(pixels)


def _out_of_memory(exc):
    """Python's MemoryError, or torch's: torch.OutOfMemoryError on a GPU, a RuntimeError from its CPU allocator."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)
