"""A run's session, the same for every front-end: the model named by the options loaded once, the
sentence that says where it runs, and the --guardar log opened for it. cli.py and batch.py both use it.
"""

import os
import sys

from classifier.base.labels import display_labels

# Fewer photos than this do not repay repacking the weights (and keep glibc's small-batch footprint).
PACK_MIN_IMAGES = 10


def load_classifier(args, images_expected=None, download_progress=None):
    """The model named by the options, loaded once; a download (the first run) shows its progress on stderr.

    images_expected: how many images it will see, when known; a few do not repay
    repacking the weights. None (the desktop loop) packs, behind the file picker.
    """
    from classifier.hub.text_progress import text_progress
    from classifier.model import Classifier

    download_progress = download_progress or text_progress(sys.stderr)
    if not args.verbose:
        from huggingface_hub.utils import logging as hub_logging
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hub_logging.set_verbosity_error()
    return Classifier.load(
        args.model, revision=args.revision, device=args.device, fast=args.rapido,
        download_progress=download_progress,
        pack=images_expected is None or images_expected >= PACK_MIN_IMAGES, language=args.language,
        maps=images_expected is None or args.mapa is not None,  # the desktop draws maps; the batch with --mapa
    )


def fetch_model(args, window=None):
    """Download the model's files now if the cache lacks them: the desktop does so before its picker.

    window(text_progress) -> the progress shown on screen (gui.DownloadWindow); None: text on stderr.
    """
    from classifier.hub.locate import default_revision, model_folder
    from classifier.hub.text_progress import text_progress

    progress = text_progress(sys.stderr)
    model_folder(args.model, default_revision(args.model, args.revision),
                 progress if window is None else window(progress))


def loaded_sentence(classifier, verbose):
    """Where the model runs; with --detallado in the fast mode, also the precision and its measured figures."""
    if verbose and classifier.precision is not None:
        from classifier.model.precision import describe_choice

        return f"{device_sentence(classifier)}\n{describe_choice(classifier.precision)}"
    return device_sentence(classifier)


def device_sentence(classifier):
    """Which device runs the model, in words: users often cannot tell whether their GPU is used."""
    device = classifier.device
    if device.type == "cuda":
        import torch

        return f"El modelo se ejecuta en la GPU {torch.cuda.get_device_name(device)} (CUDA)."
    if device.type == "mps":
        return "El modelo se ejecuta en la GPU de Apple (MPS)."
    return f"El modelo se ejecuta en la CPU ({os.cpu_count() or 1} núcleos)."


def open_results_log(args):
    """The --guardar file, or None; a ResultsLogError says why it cannot be used."""
    if not args.save:
        return None
    from classifier.results_log import ResultsLog

    return ResultsLog.open(args.save, args.top_k, spreadsheet=args.spreadsheet)


def label_names(classifier):
    """Per class id, the names a results log may hold for it: the one shown first, then the model's own
    and its Spanish name, whatever --idioma this run has (one model writes a log in either language)."""
    id2label = classifier.model.config.id2label
    own = [str(id2label[class_id]) for class_id in range(len(classifier.labels))]
    return list(zip(classifier.labels, own, display_labels(own, "es"), strict=True))
