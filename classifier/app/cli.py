"""Command line: parse the options, dispatch to the desktop loop or the batch, turn errors into exit statuses.

Only the front-ends (this module, batch.py and desktop.py) write messages for the user.
torch and transformers are imported after parsing, so --help answers at once.
"""

import argparse
import os
import re
import signal
import sys
from contextlib import contextmanager, nullcontext

from classifier.app.console import INTERRUPTED, is_terminal, say
from classifier.base.defaults import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MODEL,
    DEFAULT_REVISION,
    DEFAULT_TOP_K,
    DEVICES,
    VERSION,
)
from classifier.base.errors import ClassifierError, DownloadInterrupted, ModelLoadError, OutputFailed
from classifier.base.labels import DEFAULT_LANGUAGE, LANGUAGES
from classifier.base.status import STOP_SIGNALS, ExitStatus, Stopped, stop_exception, stop_signal_handler
from classifier.engine import memory
from classifier.engine.session import fetch_model, label_names, load_classifier, loaded_sentence, open_results_log
from classifier.results_log import ResultsLogError

PROG = "clasificar"
ENGLISH_ALIASES = {"--recursive", "--format", "--language", "--save", "--model", "--device", "--batch-size",
                   "--verbose"}
FORMATS = {"texto": "text", "text": "text", "json": "json", "csv": "csv"}  # the English value kept as an alias

DESCRIPTION = (
    f"Clasifica imágenes en este equipo con el Vision Transformer {DEFAULT_MODEL}.\n"
    "Sin RUTAS abre el selector de archivos y muestra las imágenes en una ventana;\n"
    "con RUTAS (archivos o carpetas) clasifica en la terminal, sin ventanas."
)
EPILOG = (
    "Las opciones también admiten su nombre en inglés (--format, --model, --device, --recursive,\n"
    "--batch-size, --verbose, --language, --save), para los guiones que ya las usan.\n\n"
    "Códigos de salida: 0 todo clasificado (y el fin del modo interactivo, también con Ctrl+C);\n"
    "1 alguna entrada falló (las demás se muestran); 2 error de uso, modelo que no se puede\n"
    "cargar o archivo de --guardar que no se puede usar; 74 no se pudo escribir la salida ni el\n"
    "archivo de --guardar; 129, 130 y 143 lote detenido por cierre de la terminal, Ctrl+C o\n"
    "SIGTERM; 141 quien leía la salida la cerró antes (por ejemplo, | head)."
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

    def _format_action_invocation(self, action):
        # The English aliases are listed once, in the epilog, not beside each option.
        spellings = [option for option in action.option_strings if option not in ENGLISH_ALIASES]
        if not spellings:
            return super()._format_action_invocation(action)
        if action.nargs == 0:
            return ", ".join(spellings)
        value = self._format_args(action, self._get_default_metavar_for_optional(action))
        return f"{', '.join(spellings)} {value}"


class _SpanishParser(argparse.ArgumentParser):
    def error(self, message):
        for pattern, replacement in _ARGPARSE_ERRORS:
            message, count = re.subn(pattern, replacement, message)
            if count:
                break
        self.print_usage(sys.stderr)
        self.exit(ExitStatus.USAGE, f"{self.prog}: error: {message}\n")


FOLDER_IN_A_WINDOW = object()  # --aprender alone: no string, so argparse gives it as is and no typed path equals it
MAX_COUNT = 100_000  # more classes or images per pass than any model has: a typo, not a wish


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"«{text}» no es un número entero") from None
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"debe estar entre 1 y {MAX_COUNT} (se recibió {value})")
    return value


def _path(text):
    # "--guardar=" or --mapa "" (an unset shell variable) would otherwise mean "do not save".
    if not text:
        raise argparse.ArgumentTypeError("falta la ruta (se recibió un texto vacío)")
    return text


def _format(text):
    try:
        return FORMATS[text]
    except KeyError:
        raise argparse.ArgumentTypeError(f"«{text}» no es un formato: elija texto, json o csv") from None


def program_name(argv0):
    """The program as the user started it, for --help and usage errors: «python script_modelo.py»
    where the script was run, «clasificar» for the installed command."""
    name = os.path.basename(argv0 or "")
    if name == "__main__.py":
        return "python -m classifier"
    return f"python {name}" if name.endswith(".py") else PROG


def build_parser(prog=PROG):
    parser = _SpanishParser(
        prog=prog, description=DESCRIPTION, epilog=EPILOG, formatter_class=_SpanishHelpFormatter, add_help=False,
        allow_abbrev=False,
    )
    inputs = parser.add_argument_group("entradas")
    inputs.add_argument(
        "paths", nargs="*", metavar="RUTA",
        help="imágenes o carpetas que clasificar; una carpeta aporta sus imágenes por orden de nombre; "
             "después de -- todo es una ruta, aunque empiece por - (por defecto: ninguna, y se abre el modo "
             "interactivo)",
    )
    inputs.add_argument(
        "-r", "--recursivo", "--recursive", dest="recursive", action="store_true",
        help="busca imágenes también en las subcarpetas (por defecto: solo la carpeta indicada)",
    )
    results = parser.add_argument_group("resultados")
    results.add_argument(
        "-k", "--top-k", type=_positive_int, default=DEFAULT_TOP_K, metavar="N",
        help=f"cuántas clases más probables se muestran por imagen (por defecto: {DEFAULT_TOP_K})",
    )
    results.add_argument(
        "-f", "--formato", "--format", dest="format", type=_format, default="texto", metavar="FORMATO",
        help="formato de salida del modo por lotes: texto (tabla), json (JSON Lines, un objeto por imagen) "
             "o csv (path,rank,id,label,score) (por defecto: texto)",
    )
    results.add_argument(
        "--idioma", "--language", dest="language", choices=LANGUAGES, default=DEFAULT_LANGUAGE,
        help="idioma de los nombres de las clases: es (español, para los modelos de ImageNet-1k como el de "
             "por defecto) o en (los nombres del propio modelo); otros modelos muestran siempre los suyos "
             f"(por defecto: {DEFAULT_LANGUAGE})",
    )
    results.add_argument(
        "--guardar", "--save", dest="save", type=_path, metavar="FICHERO",
        help="añade cada imagen clasificada a FICHERO, .csv o .jsonl, línea a línea; si ya existe, se "
             "clasifican solo las imágenes que aún no están en él o que fallaron (por defecto: no se guarda)",
    )
    results.add_argument(
        "--csv-es", dest="spreadsheet", action="store_true",
        help="el CSV de --guardar para una hoja de cálculo en español: punto y coma, coma decimal, "
             "UTF-8 con BOM (por defecto: comas y punto decimal)",
    )
    results.add_argument(
        "--mapa", type=_path, metavar="CARPETA",
        help="modo por lotes: guarda en CARPETA, por cada imagen, un PNG con la imagen, el mapa "
             "(dónde se fijó el modelo) y las clases más probables, llamado como la imagen más _mapa.png; nunca "
             "sobrescribe un archivo (por defecto: no se guardan mapas)",
    )
    model = parser.add_argument_group("modelo")
    model.add_argument(
        "--modelo", "--model", dest="model", default=DEFAULT_MODEL, metavar="MODELO",
        help=f"identificador de Hugging Face o carpeta de un modelo (con su config.json) "
             f"(por defecto: {DEFAULT_MODEL})",
    )
    model.add_argument(
        "--revision", default=None, metavar="REV",
        help=f"commit, rama o etiqueta del modelo en Hugging Face (por defecto: {DEFAULT_REVISION} "
             "para el modelo por defecto, main para los demás)",
    )
    model.add_argument(
        "--dispositivo", "--device", dest="device", choices=DEVICES, default="auto",
        help="dónde se ejecuta el modelo; auto elige cuda, luego mps, luego cpu (por defecto: auto)",
    )
    model.add_argument(
        "--rapido", action="store_true",
        help="modo rápido: decodifica los JPEG a tamaño reducido y calcula en la precisión más rápida de este "
             "equipo (en CPU se mide la primera vez entre float32, bfloat16 y float16; float16 en GPU); "
             "resultados casi iguales, no idénticos (por defecto: no, modo exacto)",
    )
    model.add_argument(
        "--lote", "--batch-size", dest="batch_size", type=_positive_int, default=DEFAULT_BATCH_SIZE, metavar="N",
        help=f"imágenes por pasada del modelo en el modo por lotes (por defecto: {DEFAULT_BATCH_SIZE})",
    )
    teaching = parser.add_argument_group("enseñar clases nuevas")
    teaching.add_argument(
        "--aprender", type=_path, metavar="CARPETA", nargs="?", const=FOLDER_IN_A_WINDOW,
        help="enseña al modelo (el de --modelo) clases nuevas: CARPETA tiene una subcarpeta por clase, con su "
             "nombre y sus fotos; dice la precisión estimada y guarda el modelo nuevo en --nuevo-modelo; "
             "sin CARPETA, se elige en una ventana, el modelo va a la carpeta de configuración del programa "
             "si falta --nuevo-modelo, y después se clasifica con él (por defecto: no se enseña, se clasifica)",
    )
    teaching.add_argument(
        "--nuevo-modelo", dest="nuevo_modelo", type=_path, metavar="DESTINO",
        help="con --aprender: la carpeta donde se guarda el modelo nuevo (no debe existir, salvo si es un "
             "modelo que enseñó este programa, que se reemplaza); después: --modelo DESTINO (por defecto: ninguna)",
    )
    general = parser.add_argument_group("general")
    general.add_argument("-h", "--help", "--ayuda", action="help", help="muestra esta ayuda y termina")
    general.add_argument(
        "--detallado", "--verbose", dest="verbose", action="store_true",
        help="muestra los avisos de las bibliotecas y el progreso de carga del modelo (por defecto: no)",
    )
    general.add_argument(
        "--version", action="version", version=f"{PROG} {VERSION}", help="muestra la versión y termina",
    )
    # parse_intermixed_args cuts len("usage: ") off a generated usage line; a fixed one it keeps.
    parser.usage = parser.format_usage().removeprefix("uso: ").strip()
    return parser


def parse_args(argv, prog=PROG):
    """Options and paths; everything after a lone -- is a path, even if it starts with a dash."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tail = []
    if "--" in argv:
        cut = argv.index("--")
        argv, tail = argv[:cut], argv[cut + 1:]
    args = build_parser(prog).parse_intermixed_args(argv)
    args.paths += tail
    return args


def main(argv=None, prog=PROG):
    """Run the program; returns the exit status."""
    try:
        args = parse_args(argv, prog)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code
    streams = _prepare_streams()
    if isinstance(streams, ExitStatus):
        return streams
    _quiet_libraries(args.verbose)
    settings = _hub_settings(args.model)
    if settings is not None:
        say(f"Error: {settings}")
        desktop = not args.paths and args.aprender is None and args.nuevo_modelo is None
        if desktop or args.aprender is FOLDER_IN_A_WINDOW:
            # the desktop mode: started from a menu, its user sees no terminal
            from .desktop import MODEL_ERROR_TITLE, error_box

            error_box(MODEL_ERROR_TITLE, settings)
        return ExitStatus.MODEL_FAILED
    INTERRUPTED.clear()
    with _stop_signals_raise(), _interrupts_hidden():
        try:
            if args.aprender is FOLDER_IN_A_WINDOW:
                from .teach_desktop import teach_from_desktop

                status, taught = teach_from_desktop(args)
                if taught is None:
                    return status
                # The usual loop, with the new model (nothing to download: a folder).
                return run_desktop_mode(argparse.Namespace(**{**vars(args), "model": taught, "aprender": None}))
            if args.aprender is not None or args.nuevo_modelo is not None:
                from .teach import run_teaching

                return run_teaching(args)
            if not args.paths:
                return run_desktop_mode(args)
            from classifier.app.batch import run_batch

            return run_batch(args)
        except Stopped as exc:
            say("\nDetenido.")
            return exc.status
        except DownloadInterrupted:
            say(f"\n{DownloadInterrupted.SENTENCE}")
            return ExitStatus.INTERRUPTED
        except KeyboardInterrupt:
            say("\nInterrumpido.")
            return ExitStatus.INTERRUPTED
        except BrokenPipeError:
            # The reader went away (| head -1): stop quietly, as a tool killed by SIGPIPE does.
            _discard_stdout()
            return ExitStatus.BROKEN_PIPE
        except OutputFailed as exc:
            _discard_stdout()
            say(f"Error: {exc}")
            return ExitStatus.OUTPUT_FAILED
        except ResultsLogError as exc:  # the --guardar file could not be written (a full disk, say)
            say(f"Error: {exc}")
            return ExitStatus.OUTPUT_FAILED


def run():
    """The console command and script_modelo.py: main() with the exit a process needs."""
    status = main(prog=program_name(sys.argv[0]))
    # The process is ending: a second Ctrl+C now would only print a traceback from the interpreter's exit.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(int(status))


@contextmanager
def _stop_signals_raise():
    """Ctrl+C, SIGTERM and SIGHUP raise at the next Python line; their handlers are put back after."""

    def stop(signum, frame):
        INTERRUPTED.stop(signum)
        raise stop_exception(signum)

    with stop_signal_handler(stop):
        yield


@contextmanager
def _interrupts_hidden():
    """A stop signal that lands in a destructor is reported as 'Exception ignored': not to the user.

    The flag above still records it, and the run stops with its status.
    """
    previous = sys.unraisablehook

    def unraisable(report):
        if not issubclass(report.exc_type, KeyboardInterrupt):
            previous(report)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = previous


def run_desktop_mode(args):
    from classifier.app.desktop import run_desktop

    memory.small_footprint()  # a few pictures at a time: memory matters more than decoding threads' speed
    try:
        log = open_results_log(args)
    except ClassifierError as exc:
        say(f"Error: {exc}")
        return ExitStatus.USAGE

    def load():
        classifier = load_classifier(args)
        if log is not None:
            try:
                log.check_model(args.top_k, label_names(classifier))
            except ClassifierError as exc:  # told as the loader tells a model it cannot use
                raise ModelLoadError(str(exc)) from None
        return classifier

    with log or nullcontext():
        return run_desktop(load, args.top_k, log, describe=lambda classifier: loaded_sentence(classifier, args.verbose),
                           fetch=lambda window: fetch_model(args, window), recursive=args.recursive)


def _discard_stdout():
    # Python flushes stdout at exit: into a closed pipe or a full disk that would raise once more.
    try:
        descriptor = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # closed, or not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _prepare_streams():
    """UTF-8 output, and odd bytes escaped rather than fatal; a closed stdout is reported."""
    if sys.stdout is None:
        say("Error: la salida estándar está cerrada: no hay dónde escribir los resultados.")
        return ExitStatus.OUTPUT_FAILED
    for stream in (sys.stdout, sys.stderr):
        if not hasattr(stream, "reconfigure"):
            continue
        if is_terminal(stream):
            stream.reconfigure(errors="backslashreplace")
        else:  # redirected output on Windows would use a legacy code page; labels need UTF-8
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="surrogateescape")  # a typed name in another encoding is still a name
    return None


def _hub_settings(model):
    """The hub's environment checked before transformers imports it; a local model needs none of it."""
    from classifier.base.defaults import DEFAULT_MODEL
    from classifier.hub import settings as hub_settings
    from classifier.hub.locate import looks_like_path

    try:
        local = model != DEFAULT_MODEL and (os.path.lexists(model) or looks_like_path(model))
    except ValueError:  # a NUL in the name: the model's own check words it
        local = True
    return hub_settings.check(local)


def _quiet_libraries(verbose):
    # Before huggingface_hub is imported: Windows without developer mode warns about symlinks.
    os.environ.setdefault("HF_HUB_DISABLE_SYMLINKS_WARNING", "1")
    if verbose:
        return
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    # matplotlib says in English when it cannot write its cache under HOME, and then does without.
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
