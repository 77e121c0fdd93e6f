"""The desktop loop: pick an image, read the top-k, see it in a window, answer s/n.

The picker opens before torch is imported: the model loads in a background
thread while the user is choosing.
"""

import os
import sys
import threading
import unicodedata

from .cli import EXIT_OK
from .cli import EXIT_USAGE as EXIT_MODEL_FAILED
from .defaults import IMAGE_EXTENSIONS
from .errors import ClassifierError, ModelLoadError
from .output import format_predictions

PICKER_TITLE = "Elija una imagen para clasificar"
AGAIN_PROMPT = "¿Clasificar otra imagen? (s/n) "
YES = {"s", "si", "sí"}
NO = {"n", "no"}


class ModelUnavailable(Exception):
    """The model failed to load; the loader has already said why."""


class DisplayUnavailable(Exception):
    """No window can be opened (no screen, or Tk cannot start)."""


class BackgroundLoader:
    """Loads the classifier in a thread; get() waits for it, saying so if it must."""

    def __init__(self, load, say):
        self._load, self._say = load, say
        self._classifier = None
        self._failure = None
        self._done = threading.Event()
        # Daemon: a user who quits while torch is still importing must not wait for it.
        self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        try:
            self._classifier = self._load()
        except ModelLoadError as exc:
            self._failure = exc
            self._say(f"Error: {exc}")  # at once, while the picker may still be open
        except BaseException as exc:  # a bug: re-raised in the main thread with its traceback
            self._failure = exc
        finally:
            self._done.set()

    @property
    def failed(self):
        """True once loading has failed for a reason already told to the user."""
        return self._done.is_set() and isinstance(self._failure, ModelLoadError)

    def get(self):
        if not self._done.is_set():
            self._say("Cargando el modelo…")
            self._done.wait()
        if isinstance(self._failure, ModelLoadError):
            raise ModelUnavailable from self._failure
        if self._failure is not None:
            raise self._failure
        return self._classifier


def parse_answer(text):
    """True for s/si/sí, False for n/no (any case, spaces around), None for anything else."""
    answer = unicodedata.normalize("NFC", text).strip().casefold()
    return True if answer in YES else False if answer in NO else None


def ask_again(ask, say):
    """Ask until the answer is yes or no; end of input counts as no."""
    while True:
        try:
            answer = parse_answer(ask(AGAIN_PROMPT))
        except EOFError:
            say("")
            return False
        if answer is not None:
            return answer
        say("Responda «s» para elegir otra imagen o «n» para terminar.")


def interactive_loop(ui, loader, top_k, say, ask):
    """Run until the user says no; returns the exit status."""
    while True:
        try:
            path = ui.pick()
        except DisplayUnavailable as exc:
            ui = _terminal_instead(exc, ask, say)
            continue
        except EOFError:
            path = None
        if loader.failed:
            return EXIT_MODEL_FAILED
        if path is None:
            say("No se eligió ninguna imagen.")
        else:
            try:
                _classify_and_show(ui, loader, path, top_k, say)
            except ModelUnavailable:
                return EXIT_MODEL_FAILED
            except DisplayUnavailable as exc:
                ui = _terminal_instead(exc, ask, say)
        if not ask_again(ask, say):
            say("¡Hasta luego!")
            return EXIT_OK


def _terminal_instead(reason, ask, say):
    say(f"No se puede abrir una ventana ({reason}): se usará la terminal.")
    return TerminalUI(ask, say)


def _classify_and_show(ui, loader, path, top_k, say):
    from .attention import MapUnavailable
    from .images import open_image

    try:
        image = open_image(path)
        classifier = loader.get()
        try:
            [(predictions, heatmap)] = classifier.classify_with_maps([image], top_k)
        except MapUnavailable:  # not a ViT-like model: the window shows no map
            [predictions], heatmap = classifier.classify([image], top_k), None
    except ClassifierError as exc:
        say(f"Error: {exc}")
        return
    say(f"{path}\n{format_predictions(predictions)}")
    ui.show(image, predictions, path, heatmap, classifier.seen_region(image))


class TerminalUI:
    """No screen: image paths are typed in the terminal and results only printed."""

    def __init__(self, ask, say):
        self.ask = ask

    def pick(self):
        # Terminals quote dragged-in paths; the quotes are not part of the name.
        path = self.ask("Ruta de la imagen (Intro sin nada para ninguna): ").strip().strip("'\"")
        return path or None

    def show(self, image, predictions, path, heatmap=None, seen=None):
        pass  # the results are already printed


class DesktopUI:
    """The easygui picker and the matplotlib window."""

    def __init__(self, start_folder):
        self.folder = start_folder

    def pick(self):
        import tkinter

        from .window import collect_tk_garbage, ctrl_c_sets

        interrupted = threading.Event()
        try:
            with ctrl_c_sets(interrupted):
                path = _easygui_open(self.folder, interrupted)
        except tkinter.TclError as exc:
            if interrupted.is_set():  # the dialog was torn down by Ctrl+C
                raise KeyboardInterrupt from None
            raise DisplayUnavailable(str(exc)) from exc
        finally:
            collect_tk_garbage()
        if interrupted.is_set():
            raise KeyboardInterrupt
        if path:
            self.folder = os.path.dirname(path)
        return path or None

    def show(self, image, predictions, path, heatmap=None, seen=None):
        import tkinter

        from .window import show_result

        try:
            show_result(image, predictions, path, heatmap, seen)
        except tkinter.TclError as exc:
            raise DisplayUnavailable(str(exc)) from exc


def picker_filetypes():
    """easygui file masks: image files first (the default filter), then all files."""
    masks = [f"*{ext}" for ext in IMAGE_EXTENSIONS] + [f"*{ext.upper()}" for ext in IMAGE_EXTENSIONS]
    return [[*masks, "Imágenes"], ["*", "Todos los archivos"]]


def _easygui_open(folder, interrupted=None):
    import easygui
    from easygui.boxes import fileopen_box

    dialogs = fileopen_box.ut.tk_FileDialog  # the tkinter.filedialog that easygui calls
    ask = dialogs.askopenfilename

    def ask_images_first(**options):
        # easygui always lists its own "All files" first: open on the images instead.
        images = [kind for kind in options.get("filetypes", ()) if kind[0] == "Imágenes"]
        options["filetypes"] = images + [("Todos los archivos", ("*",))]
        parent = options.get("parent")
        _hide_dot_files(parent)
        if interrupted is not None and hasattr(parent, "after"):
            from .window import when_set

            when_set(parent, interrupted, parent.destroy)  # destroying the root ends the modal dialog
        return ask(**options)

    dialogs.askopenfilename = ask_images_first
    try:
        return easygui.fileopenbox(title=PICKER_TITLE, default=os.path.join(folder, "*"),
                                   filetypes=picker_filetypes())
    finally:
        dialogs.askopenfilename = ask


def _hide_dot_files(root):
    """Tk's own dialog (Linux) lists .git, .venv and the like unless told otherwise."""
    import tkinter

    try:
        if root.tk.call("tk", "windowingsystem") == "x11":
            # Loading the dialog's code first creates the variables it reads.
            root.tk.eval("catch {tk_getOpenFile -no-such-option}; "
                         "set ::tk::dialog::file::showHiddenBtn 1; set ::tk::dialog::file::showHiddenVar 0")
    except (AttributeError, tkinter.TclError):
        pass  # cosmetic only: the dialog works the same with them shown


def has_display():
    """False on Linux and other X11 systems without DISPLAY or WAYLAND_DISPLAY."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_interactive(args):
    """Entry of the desktop mode; the model loads behind the picker."""
    from .cli import load_classifier

    def say(message):
        print(message, flush=True)

    loader = BackgroundLoader(lambda: _load_for_desktop(args, load_classifier), say).start()
    if has_display():
        ui = DesktopUI(os.getcwd())
    else:
        say("No hay pantalla disponible: escriba la ruta de cada imagen en la terminal.")
        ui = TerminalUI(input, say)
    try:
        return interactive_loop(ui, loader, args.top_k, say, input)
    except KeyboardInterrupt:
        say("\n¡Hasta luego!")
        return EXIT_OK


def _load_for_desktop(args, load_classifier):
    classifier = load_classifier(args)
    if has_display():
        from . import window

        window._pyplot()  # import matplotlib now, not when the first window opens
    return classifier
