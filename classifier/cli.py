"""Command line: parse arguments, pick the desktop loop or the batch, turn errors into exit codes.

Only this module (and the desktop loop) writes messages for the user. torch and
transformers are imported after parsing, so --help answers at once.
"""

import argparse
import os
import re
import signal
import sys
import threading
from contextlib import contextmanager

from . import __version__
from .defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MODEL,
    DEFAULT_MODEL_DOWNLOAD_MB,
    DEFAULT_REVISION,
    DEFAULT_TOP_K,
    DEVICES,
)
from .errors import ModelLoadError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141
PROGRESS_MIN_IMAGES = 10
PACK_MIN_IMAGES = 10

DESCRIPTION = (
    f"Clasifica imágenes en este equipo con el Vision Transformer {DEFAULT_MODEL}.\n"
    "Sin RUTAS abre el selector de archivos y muestra cada imagen en una ventana;\n"
    "con RUTAS (archivos o carpetas) clasifica en la terminal, sin ventanas."
)
EPILOG = (
    "Códigos de salida: 0 todo clasificado; 1 alguna entrada falló (las demás se muestran);\n"
    "2 error de uso o modelo que no se puede cargar; 130 interrumpido con Ctrl+C;\n"
    "141 quien leía la salida la cerró antes (por ejemplo, | head)."
)

# argparse writes its own errors in English; these are the ones our options can raise.
_ARGPARSE_ERRORS = [
    (r"unrecognized arguments: (.*)", r"argumentos no reconocidos: \1"),
    (r"argument (\S+): invalid choice: (.*) \(choose from (.*)\)",
     r"argumento \1: valor no válido: \2 (elija entre \3)"),
    (r"argument (\S+): expected one argument", r"argumento \1: falta su valor"),
    (r"argument (\S+): ignored explicit argument (.*)", r"argumento \1: no admite el valor \2"),
    (r"ambiguous option: (\S+) could match (.*)", r"opción ambigua: \1 puede ser \2"),
    (r"the following arguments are required: (.*)", r"faltan los argumentos: \1"),
    (r"argument (\S+): ", r"argumento \1: "),
]


class _SpanishHelpFormatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):
        super().add_usage(usage, actions, groups, prefix="uso: " if prefix is None else prefix)


class _SpanishParser(argparse.ArgumentParser):
    def error(self, message):
        for pattern, replacement in _ARGPARSE_ERRORS:
            message, count = re.subn(pattern, replacement, message)
            if count:
                break
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"«{text}» no es un número entero") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"debe ser 1 o más (se recibió {value})")
    return value


def build_parser():
    parser = _SpanishParser(
        prog="script_modelo.py", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=_SpanishHelpFormatter, add_help=False,
    )
    inputs = parser.add_argument_group("entradas")
    inputs.add_argument(
        "paths", nargs="*", metavar="RUTA",
        help="imágenes o carpetas que clasificar; una carpeta aporta sus imágenes por orden de nombre "
             "(por defecto: ninguna, y se abre el modo interactivo)",
    )
    inputs.add_argument(
        "-r", "--recursive", action="store_true",
        help="busca imágenes también en las subcarpetas (por defecto: solo la carpeta indicada)",
    )
    results = parser.add_argument_group("resultados")
    results.add_argument(
        "-k", "--top-k", type=_positive_int, default=DEFAULT_TOP_K, metavar="N",
        help=f"cuántas clases más probables se muestran por imagen (por defecto: {DEFAULT_TOP_K})",
    )
    results.add_argument(
        "-f", "--format", choices=("text", "json", "csv"), default="text",
        help="formato de salida por lotes: text (tabla), json (JSON Lines, un objeto por imagen) "
             "o csv (path,rank,label,score) (por defecto: text)",
    )
    results.add_argument(
        "--mapa", metavar="CARPETA",
        help="guarda en CARPETA, por cada imagen, un PNG con la imagen, el mapa de atención (dónde miró el "
             "modelo) encima y las clases más probables, llamado como la imagen más _mapa.png "
             "(por defecto: no se guardan mapas)",
    )
    model = parser.add_argument_group("modelo")
    model.add_argument(
        "--model", default=DEFAULT_MODEL, metavar="MODELO",
        help=f"identificador de Hugging Face o carpeta local guardada con save_pretrained "
             f"(por defecto: {DEFAULT_MODEL})",
    )
    model.add_argument(
        "--revision", default=None, metavar="REV",
        help=f"commit, rama o etiqueta del modelo en Hugging Face (por defecto: {DEFAULT_REVISION} "
             "para el modelo por defecto, main para los demás)",
    )
    model.add_argument(
        "--device", choices=DEVICES, default="auto",
        help="dónde se ejecuta el modelo; auto elige cuda, luego mps, luego cpu (por defecto: auto)",
    )
    model.add_argument(
        "--rapido", action="store_true",
        help="modo rápido: decodifica los JPEG a tamaño reducido y calcula en media precisión (bf16 en CPU "
             "con AVX512-BF16 o AMX, fp16 en GPU); resultados casi iguales, no idénticos "
             "(por defecto: no, modo exacto)",
    )
    model.add_argument(
        "--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
        help=f"imágenes por pasada del modelo en el modo por lotes (por defecto: {DEFAULT_BATCH_SIZE})",
    )
    general = parser.add_argument_group("general")
    general.add_argument("-h", "--help", action="help", help="muestra esta ayuda y termina")
    general.add_argument(
        "--verbose", action="store_true",
        help="muestra los avisos de las bibliotecas y el progreso de carga del modelo (por defecto: no)",
    )
    general.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="muestra la versión y termina",
    )
    # parse_intermixed_args cuts len("usage: ") off a generated usage line; a fixed one it keeps.
    parser.usage = parser.format_usage().removeprefix("uso: ").strip()
    return parser


def main(argv=None):
    """Run the program; returns the exit status."""
    try:
        args = build_parser().parse_intermixed_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code
    _prepare_streams()
    _quiet_libraries(args.verbose)
    _INTERRUPTED.clear()
    watching = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, _on_ctrl_c) if watching else None
    previous_hook, sys.unraisablehook = sys.unraisablehook, _hide_interrupts(sys.unraisablehook)
    try:
        if not args.paths:
            from .interactive import run_interactive

            return run_interactive(args)
        return run_batch(args)
    except KeyboardInterrupt:
        _say("\nInterrumpido.")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head -1): stop quietly, as a tool killed by SIGPIPE does.
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    finally:
        sys.unraisablehook = previous_hook
        if watching:
            signal.signal(signal.SIGINT, previous)


# Set by Ctrl+C. Some libraries swallow KeyboardInterrupt while they import (a bare
# "except:"); the flag lets us notice afterwards all the same.
_INTERRUPTED = threading.Event()


def _on_ctrl_c(signum, frame):
    _INTERRUPTED.set()
    raise KeyboardInterrupt


def _hide_interrupts(hook):
    """A Ctrl+C that lands in a destructor is reported as 'Exception ignored': not to the user.

    The flag above still records it, and the run stops with status 130.
    """

    def unraisable(report):
        if not issubclass(report.exc_type, KeyboardInterrupt):
            hook(report)

    return unraisable


def _stop_if_interrupted():
    if _INTERRUPTED.is_set():
        raise KeyboardInterrupt


def load_classifier(args, images_expected=None):
    """The model named by the options, loaded once; says so when it must download.

    images_expected: how many images it will see, when known; a few do not repay
    repacking the weights. None (the desktop loop) packs, behind the file picker.
    """
    from .model import Classifier

    if not args.verbose:
        from huggingface_hub.utils import logging as hub_logging
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hub_logging.set_verbosity_error()
    return Classifier.load(
        args.model, revision=args.revision, device=args.device, fast=args.rapido,
        show_progress=args.verbose, on_download=_announce_download,
        pack=images_expected is None or images_expected >= PACK_MIN_IMAGES,
    )


def _announce_download(model):
    size = f" (unos {DEFAULT_MODEL_DOWNLOAD_MB} MB)" if model == DEFAULT_MODEL else ""
    _say(f"Descargando el modelo «{model}»{size}. Solo ocurre la primera vez: después se usa la copia guardada.")


def run_batch(args):
    from .attention import MapUnavailable
    from .batch import classify_paths
    from .images import expand_inputs
    from .output import WRITERS, MapFolder

    inputs = list(expand_inputs(args.paths, recursive=args.recursive))
    maps = MapFolder(args.mapa) if args.mapa else None
    if maps is not None and maps.error:
        _say(f"Error: {maps.error}")
        return EXIT_USAGE
    try:
        classifier = load_classifier(args, images_expected=len(inputs))
    except ModelLoadError as exc:
        _say(f"Error: {exc}")
        return EXIT_USAGE
    _stop_if_interrupted()
    with _uninterrupted():
        writer = _ProgressWriter(WRITERS[args.format](sys.stdout, sys.stderr), len(inputs))
    failed = False
    try:
        for result in classify_paths(classifier, inputs, args.top_k, args.batch_size, maps=maps is not None):
            if maps is not None and result.error is None:
                result = maps.save(result)
            failed |= result.error is not None
            writer.write(result)
    except MapUnavailable as exc:
        _say(f"Error: {exc}")
        return EXIT_USAGE
    finally:
        writer.close()
    return EXIT_SOME_FAILED if failed else EXIT_OK


class _ProgressWriter:
    """A bar on stderr for long batches when stderr is a terminal; results print above it."""

    def __init__(self, writer, total):
        self.writer = writer
        self.bar = None
        if total >= PROGRESS_MIN_IMAGES and sys.stderr.isatty():
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
    """Hold Ctrl+C until the lines being written are whole; then it interrupts as usual.

    An interrupted batch leaves whole JSON lines and complete CSV rows behind.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _discard_stdout():
    # Python flushes stdout at exit: into a closed pipe that would raise once more.
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to flush into a pipe
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _say(message):
    print(message, file=sys.stderr, flush=True)


def _prepare_streams():
    # Redirected output on Windows would use a legacy code page; labels need UTF-8.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and not stream.isatty():
            stream.reconfigure(encoding="utf-8", errors="replace")


def _quiet_libraries(verbose):
    if verbose:
        return
    import warnings

    warnings.filterwarnings("ignore")
