"""--aprender CARPETA --nuevo-modelo DESTINO: read the classes, the photos' representations, fit the
head, report its cross-validated figures and write the new model. Prints what a user reads;
cli.py turns Ctrl+C and signals into exit statuses as for every run."""

import argparse
import sys
import time

from classifier.app.console import INTERRUPTED, is_terminal, say
from classifier.base.errors import ImageError, ModelLoadError, quoted
from classifier.base.status import ExitStatus
from classifier.hub.download_progress import duration
from classifier.teaching.classes import TeachingError, read_classes


def run_teaching(args):
    started = time.monotonic()
    try:
        return _teach(args, started)
    except TeachingError as exc:
        say(f"Error: {exc}")
        return ExitStatus.USAGE


def _teach(args, started):
    from classifier.engine.session import load_classifier, loaded_sentence
    from classifier.teaching.writing import check_destination

    if args.paths:
        raise TeachingError("Con --aprender no se clasifican rutas: las fotos van en las subcarpetas de CARPETA, "
                            "una por clase.")
    if args.aprender is None:
        raise TeachingError("--nuevo-modelo va con --aprender CARPETA: la carpeta con una subcarpeta de fotos por "
                            "clase.")
    notes = []
    classes = read_classes(args.aprender, notes)
    check_destination(args.nuevo_modelo, args.aprender)
    names = [taught.name for taught in classes]
    _show(classes_lines_of(classes))
    for note in notes:
        say(note)
    # The exact float32 model, its layers not repacked: its own classification layer is the one replaced.
    exact = argparse.Namespace(**{**vars(args), "rapido": False, "mapa": None})
    try:
        classifier = load_classifier(exact, images_expected=1)
    except ModelLoadError as exc:
        say(f"Error: {exc}")
        return ExitStatus.MODEL_FAILED
    INTERRUPTED.raise_if_set()
    say(loaded_sentence(classifier, args.verbose))
    from classifier.teaching.features import Representation

    representation = Representation(classifier, args.model)
    features, labels, counts, duplicates, fresh = _read_photos(representation, classes)
    empty = [name for name, count in zip(names, counts, strict=True) if count == 0]
    if empty:
        raise TeachingError(f"La clase «{empty[0]}» no tiene ninguna foto que se pueda leer: añada fotos que sean "
                            "imágenes.")
    cached = len(labels) - fresh
    _show([f"Fotos leídas con el modelo: {fresh}" + (f"; de la caché (ya leídas antes): {cached}." if cached else ".")])
    from classifier.teaching.report import accuracy_lines, input_warnings

    for line in input_warnings(names, counts, duplicates):
        say(line)
    from classifier.teaching.head import teach

    head = teach(features, labels, len(names))
    lines = accuracy_lines(names, labels, head.held_out, head.folds)
    _show([line for line in lines if not line.startswith("Aviso:")])
    for line in lines:
        if line.startswith("Aviso:"):
            say(line)
    INTERRUPTED.raise_if_set()
    from classifier.teaching.writing import put_head, write_model

    put_head(classifier.model, representation.layer_name, head.weight, head.bias, names)
    summary = {"base": str(args.model), "clases": dict(zip(names, counts, strict=True)),
               "precision_estimada": float((head.held_out == labels).mean()), "lambda": head.lam}
    write_model(classifier.model, classifier.processor, args.nuevo_modelo, summary)
    _show([f"Modelo nuevo guardado en {quoted(args.nuevo_modelo)}. Para usarlo: "
           f"python script_modelo.py --modelo {args.nuevo_modelo}",
           f"Tiempo: {duration(time.monotonic() - started)}."])
    return ExitStatus.OK


def classes_lines_of(classes):
    from classifier.teaching.report import classes_lines

    return classes_lines([taught.name for taught in classes], [len(taught.photos) for taught in classes])


def _read_photos(representation, classes):
    """(features, labels, readable photos per class, duplicates across classes, photos run through the model)."""
    import numpy as np

    from classifier.teaching.cache import FeatureCache
    from classifier.teaching.features import content_hash, representations

    cache = FeatureCache(representation.identity(), representation.size)
    total = sum(len(taught.photos) for taught in classes)
    bar = _bar(total)
    rows, labels, counts, duplicates, first_seen = [], [], [0] * len(classes), [], {}
    pending = []  # (path, class index, hash) not in the cache
    try:
        for index, taught in enumerate(classes):
            for path in taught.photos:
                try:
                    photo_hash = content_hash(path)
                except ImageError as exc:
                    _skipped(bar, exc)
                    continue
                earlier = first_seen.setdefault(photo_hash, (index, path))
                if earlier[0] != index:
                    duplicates.append((classes[earlier[0]].name, taught.name, earlier[1], path))
                row = cache.get(photo_hash)
                if row is None:
                    pending.append((path, index, photo_hash))
                    continue
                rows.append(row)
                labels.append(index)
                counts[index] += 1
                _advance(bar)
        by_path = {path: (index, photo_hash) for path, index, photo_hash in pending}
        for path, row in representations(representation, [path for path, _, _ in pending]):
            INTERRUPTED.raise_if_set()
            if isinstance(row, ImageError):
                _skipped(bar, row)
                continue
            index, photo_hash = by_path[path]
            cache.put(photo_hash, row)
            rows.append(row)
            labels.append(index)
            counts[index] += 1
            _advance(bar)
    finally:
        if bar is not None:
            bar.close()
    features = np.stack(rows) if rows else np.zeros((0, representation.size), dtype=np.float32)
    return features, np.asarray(labels), counts, duplicates, len(pending)


def _bar(total):
    if not is_terminal(sys.stderr):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="foto", desc="Leyendo las fotos", file=sys.stderr, leave=False)


def _advance(bar):
    if bar is not None:
        bar.update()


def _skipped(bar, error):
    sentence = f"Se omite {quoted(error.path)}: {error.reason}."
    if bar is None:
        say(sentence)
    else:
        bar.write(sentence, file=sys.stderr)
        bar.update()


def _show(lines):
    for line in lines:
        print(line, flush=True)
