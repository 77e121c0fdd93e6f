"""Classify many files with one loaded model: decoding overlaps the forward pass."""

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch

from .errors import ClassifierError
from .images import open_image
from .output import Result


def load_pixels(classifier, path):
    """File -> pixel_values for the classifier; fast mode lets JPEG decode at reduced size."""
    min_size = classifier.draft_size if classifier.fast else None
    return classifier.preprocess(open_image(path, min_size=min_size))


def classify_paths(classifier, inputs, top_k, batch_size, workers=None):
    """Yield one Result per (path, error) input, in input order.

    Worker threads decode and preprocess the next images (Pillow and NumPy release
    the GIL) while the model runs on the current batch. A file that fails becomes
    an error Result; the batch goes on.
    """
    workers = workers or min(4, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    pending = deque()  # (path, future or error), in input order
    inputs = iter(inputs)
    lookahead = batch_size + workers
    try:
        while True:
            for path, error in inputs:
                pending.append((path, error if error is not None else pool.submit(load_pixels, classifier, path)))
                if len(pending) >= lookahead:
                    break
            if not pending:
                return
            batch = [pending.popleft() for _ in range(min(batch_size, len(pending)))]
            yield from _run_batch(classifier, batch, top_k)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run_batch(classifier, batch, top_k):
    results = [None] * len(batch)
    ready, pixels = [], []
    for index, (path, job) in enumerate(batch):
        if isinstance(job, ClassifierError):
            results[index] = Result(path, error=str(job))
            continue
        try:
            pixels.append(job.result())
            ready.append(index)
        except ClassifierError as exc:
            results[index] = Result(path, error=str(exc))
    if pixels:
        probs = classifier.probabilities(torch.cat(pixels))
        for index, row in zip(ready, probs, strict=True):
            results[index] = Result(batch[index][0], predictions=classifier.top_k(row, top_k))
    return results
