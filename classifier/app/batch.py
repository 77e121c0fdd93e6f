"""Batch mode: classify the paths of the command line and write each result as it comes.

Text, JSON Lines or CSV on stdout, errors on stderr, optionally --guardar and --mapa. cli.py
parses the options and turns what this raises into exit statuses.
"""

import sys
from contextlib import contextmanager, nullcontext

from classifier.app.console import INTERRUPTED, is_terminal, say
from classifier.base.errors import ClassifierError, ModelLoadError, OutputFailed, quoted
from classifier.base.status import ExitStatus, stop_signal_handler
from classifier.engine import memory
from classifier.engine.session import PACK_MIN_IMAGES, label_names, load_classifier, loaded_sentence, open_results_log

PROGRESS_MIN_IMAGES = 10
NO_MAP_SENTENCE = ("Este modelo no da ningún mapa de dónde se fijó (ni atención sobre parches de la imagen ni un "
                   "mapa de rasgos espacial): las imágenes se clasifican igual y no se guarda ningún mapa.")


def run_batch(args):
    from classifier.gui.map_files import MapFolder
    from classifier.images import each_once, expand_inputs, skipped_outputs_sentence

    skipped = []
    inputs = each_once(expand_inputs(args.paths, recursive=args.recursive, skipped=skipped))
    if skipped:
        say(skipped_outputs_sentence(len(skipped)))
    if len(inputs) < PACK_MIN_IMAGES:
        # Before any thread starts. A large batch keeps glibc's defaults: faster, and its
        # peak is already well under the pipeline's.
        memory.small_footprint()
    maps = MapFolder(args.mapa) if args.mapa else None
    if maps is not None and maps.error:
        say(f"Error: {maps.error}")
        return ExitStatus.USAGE
    try:
        return _log_and_classify(args, inputs, maps)
    finally:
        if maps is not None:
            maps.discard()  # a folder made for maps that none went into (no map, no model) goes again


def _log_and_classify(args, inputs, maps):
    try:
        log = open_results_log(args)
    except ClassifierError as exc:
        say(f"Error: {exc}")
        return ExitStatus.USAGE
    with log or nullcontext():
        if log is not None:  # a rerun after an interruption goes on where it stopped, and retries failures
            given = len(inputs)
            inputs = log.pending(inputs)  # each photo once, however its path is spelt
            if given and not inputs:
                say(f"Todas las imágenes ya están en {quoted(args.save)}: no queda nada por clasificar "
                     "(para repetirlas, elija otro archivo).")
                return ExitStatus.OK
        return _classify_and_write(args, inputs, maps, log)


def _classify_and_write(args, inputs, maps, log):
    from classifier.engine.classifying import Engine
    from classifier.output import WRITERS

    try:
        classifier = load_classifier(args, images_expected=len(inputs))
    except ModelLoadError as exc:
        say(f"Error: {exc}")
        return ExitStatus.MODEL_FAILED
    INTERRUPTED.raise_if_set()
    if log is not None:
        try:
            log.check_model(args.top_k, label_names(classifier))
        except ClassifierError as exc:
            say(f"Error: {exc}")
            return ExitStatus.USAGE
    if args.verbose or is_terminal(sys.stderr):
        say(loaded_sentence(classifier, args.verbose))

    def no_map(reason):
        maps.discard()  # nothing will be written there: no empty folder is left behind
        say(NO_MAP_SENTENCE)

    engine = Engine(classifier, args.top_k, maps=maps is not None, on_no_map=no_map)
    with _uninterrupted():
        writer = _ProgressWriter(WRITERS[args.format](_Output(sys.stdout), _Output(sys.stderr, quiet=True)),
                                 len(inputs))
    failed = False
    try:
        for result in engine.run(inputs, args.batch_size):
            if maps is not None and result.heatmap is not None:
                result = maps.save(result)
            failed |= result.error is not None
            writer.write(result)
            if log is not None:
                log.write(result)
            # A signal that landed in a destructor (a weakref callback, say) was only noted: act on it now.
            INTERRUPTED.raise_if_set()
    finally:
        writer.close()
    return ExitStatus.SOME_FAILED if failed else ExitStatus.OK


class _Output:
    """A text stream whose failures become OutputFailed (stdout) or are ignored (stderr: quiet).

    A broken pipe stays a BrokenPipeError: the reader went away, which is not a failure.
    """

    def __init__(self, stream, quiet=False):
        self.stream, self.quiet = stream, quiet

    def write(self, text):
        self._do(lambda: self.stream.write(text))

    def flush(self):
        self._do(self.stream.flush)

    def _do(self, action):
        try:
            action()
        except BrokenPipeError:
            if not self.quiet:
                raise
        except (OSError, ValueError, AttributeError) as exc:
            if self.quiet:
                return  # the error lines cannot be shown; the results still can
            raise OutputFailed("pudieron escribir los resultados", exc) from None


class _ProgressWriter:
    """A bar on stderr for long batches when stderr is a terminal; results print above it."""

    def __init__(self, writer, total):
        self.writer = writer
        self.bar = None
        if total >= PROGRESS_MIN_IMAGES and is_terminal(sys.stderr):
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", desc="Clasificando", file=sys.stderr, leave=False)

    def write(self, result):
        with _uninterrupted():
            if self.bar is None:
                self.writer.write(result)
                return
            with self.bar.external_write_mode(file=sys.stdout):
                self.writer.write(result)
            self.bar.update()

    def close(self):
        if self.bar is not None:
            self.bar.close()


@contextmanager
def _uninterrupted():
    """Hold stop signals until the lines being written are whole; then they stop the run as usual.

    An interrupted batch leaves whole JSON lines and complete CSV rows behind.
    """
    received = []
    with stop_signal_handler(lambda signum, frame: received.append(signum)):
        yield
    if received:
        INTERRUPTED.stop(received[0])
        INTERRUPTED.raise_if_set()
