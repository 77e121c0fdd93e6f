"""The desktop loop: pick images, read each top-k, see them in a window, go on or end.

Logic only: the picker, windows and message boxes are in gui/, the route from a
path to a result in engine/classifying.py. The model (torch with it) loads in a background thread
while the user is choosing.
"""

import functools
import os
import sys
import threading
import unicodedata

from classifier.app.desktop_state import default_state_file, remember_folder, start_folder
from classifier.app.terminal import ModelUnavailable, TerminalUI, _input, _print
from classifier.base.errors import ClassifierError, DownloadInterrupted, ModelLoadError
from classifier.base.status import ExitStatus, Stopped
from classifier.output import format_result

AGAIN_PROMPT = "¿Clasificar otra imagen? (s/n) "
YES = {"s", "si", "sí"}
NO = {"n", "no"}
ERROR_TITLE = "No se pudo clasificar"
MESSAGE_BOX_SENTENCES = 4
MODEL_ERROR_TITLE = "No se pudo cargar el modelo"


class BackgroundLoader:
    """Loads the classifier in a thread; get() waits for it, saying so if it must.

    failed_event is set as soon as loading fails, so an open picker can close at once.
    """

    def __init__(self, load, say, describe=None, announce_at_once=True):
        self._load, self._say = load, say
        # describe(classifier) -> a sentence said once the model is ready: from the thread at once
        # when the terminal is free (windows on screen), else by get(), never inside a prompt.
        self._describe, self._announce_at_once = describe, announce_at_once
        self._announced = False
        self._classifier = None
        self._failure = None
        self._done = threading.Event()
        self.failed_event = threading.Event()
        # Daemon: a user who quits while torch is still importing must not wait for it.
        self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        try:
            self._classifier = self._load()
            if self._announce_at_once:
                self._announce()
        except ModelLoadError as exc:
            # Told by the main thread, which owns the terminal (a prompt may be waiting there); an
            # open picker closes at once.
            self._failure = exc
            self.failed_event.set()
        except BaseException as exc:  # a bug: re-raised in the main thread with its traceback
            self._failure = exc
        finally:
            self._done.set()

    @property
    def failure(self):
        """The ModelLoadError once loading has failed (already told in the terminal), else None."""
        return self._failure if self._done.is_set() and isinstance(self._failure, ModelLoadError) else None

    def get(self):
        if not self._done.is_set():
            self._say("Cargando el modelo…")
            self._done.wait()
        if isinstance(self._failure, ModelLoadError):
            raise ModelUnavailable from self._failure
        if self._failure is not None:
            raise self._failure
        self._announce()
        return self._classifier

    def _announce(self):
        if self._describe is not None and not self._announced:
            self._announced = True
            self._say(self._describe(self._classifier))


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


def desktop_loop(ui, loader, top_k, say, ask, log=None, recursive=False):
    """Run until the user says no; returns the exit status.

    ui: pick() -> paths; show(results, stream) -> True/False (answered in the window) or None;
    error(title, message). log: a ResultsLog that records every classified image. A folder
    stands for its photos, as in the batch mode (and those of its subfolders with recursive).
    """
    engine = None
    try:
        while True:
            try:
                paths = ui.pick(loader.failed_event)
            except EOFError:
                paths = []
            except ui.unavailable as exc:
                ui = _terminal_instead(exc, ask, say)
                continue
            if loader.failure is not None:
                raise ModelUnavailable
            answer = None
            if not paths:
                say("No se eligió ninguna imagen.")
            else:
                # torch is imported by the loader's thread, behind the picker (1.5 s the picker
                # no longer waits for): the dialog keeps its keys (tk_dialogs.keep_dialog_keys).
                from classifier.engine.classifying import MAPS_IF_POSSIBLE, Engine
                from classifier.images import each_once, expand_inputs, skipped_outputs_sentence

                engine = engine or Engine(loader.get(), top_k, maps=MAPS_IF_POSSIBLE)
                skipped = []
                inputs = each_once(expand_inputs(paths, recursive, skipped=skipped))
                if skipped:  # a folder's maps and saved figures: said, as in the batch
                    say(skipped_outputs_sentence(len(skipped)))
                answer, ui = _classify_and_show(ui, engine, inputs, say, ask, log)
            if answer is None:
                again = ask_again(ask, say)
            else:
                say(AGAIN_PROMPT + ("s" if answer else "n"))  # the terminal reads as the conversation it was
                again = answer
            if not again:
                say("¡Hasta luego!")
                return ExitStatus.OK
    except ModelUnavailable:
        # Said here, on its own line, by the thread that owns the terminal: never inside a prompt.
        say(f"Error: {loader.failure}")
        ui.error(MODEL_ERROR_TITLE, str(loader.failure))
        return ExitStatus.MODEL_FAILED


def _classify_and_show(ui, engine, inputs, say, ask, log):
    """Classify the pick's (path, error) inputs, the first result on screen as soon as it is ready;
    returns (answer, ui)."""
    run = Classification(engine, inputs, say, log).start()
    answer = None
    try:
        first = run.first()
        if first is not None:
            try:
                answer = ui.show([first], run)
            except ui.unavailable as exc:
                ui = _terminal_instead(exc, ask, say)
        run.finish()  # the terminal keeps every result, whenever the window closed
        run.take()  # no window shows them now: their pictures go
    finally:
        run.stop()
    notice = run.take_message()
    if notice is not None:
        ui.error(*notice)
    return answer, ui


class Classification:
    """The files of one pick, classified in a thread; each result printed (and logged) in order.

    The window takes the results as they come (take()), hears how many pages there will
    be (expected) and, once done, the message about the files that failed (take_message()).
    Results keep their display pictures only while a window may want them; pictures(result)
    reads them again.
    """

    def __init__(self, engine, inputs, say, log=None):
        self.engine, self.inputs, self._say, self._log = engine, list(inputs), say, log
        self._lock = threading.Lock()
        self._speaking = threading.Lock()
        self._new = []  # results for the window, not yet taken
        self._failed = []  # the errors' sentences
        self._first = threading.Event()  # the first good result is in, or none will come
        self._done = threading.Event()
        self._stop = threading.Event()
        self._error = None  # the terminal or the log could not be written: raised by finish()
        self._message_taken = False
        self._thread = threading.Thread(target=self._run, name="classify", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        try:
            for result in self.engine.run(self.inputs, batch_size=1):
                with self._speaking:  # once stop() has returned, nothing more reaches the terminal
                    if self._stop.is_set():
                        return
                    self._say(format_result(result))
                    with self._lock:
                        if result.error is None:
                            self._new.append(result)
                            self._first.set()
                        else:
                            self._failed.append(result.error)
                    if self._log is not None:
                        self._log.write(result)  # after the terminal line: a full disk must not hide the answer
        except BaseException as exc:  # noqa: BLE001 - raised again by finish(), in the main thread
            self._error = exc
        finally:
            self._done.set()
            self._first.set()

    @property
    def done(self):
        return self._done.is_set()

    @property
    def expected(self):
        """How many good results there will be, as far as is known now."""
        with self._lock:
            return len(self.inputs) - len(self._failed)

    def first(self):
        """The first good result (None when every file failed); later ones stay for take()."""
        self._first.wait()
        self._raise_error()
        with self._lock:
            return self._new.pop(0) if self._new else None

    def take(self):
        with self._lock:
            new, self._new = self._new, []
        return new

    def pictures(self, result):
        """The result with its display pictures read again from its file."""
        try:
            picture, seen = self.engine.pictures_of(result.path)
        except ClassifierError:  # gone or changed since: a blank picture, the predictions stand
            from PIL import Image

            picture = seen = Image.new("RGB", (4, 3), "white")
        return result._replace(picture=picture, seen=seen)

    def take_message(self):
        """Once done, the message box about the files that failed, once: (title, message) or None."""
        if not self.done or self._message_taken or not self._failed:
            return None
        self._message_taken = True
        return ERROR_TITLE, _error_summary(self._failed)

    def finish(self):
        """Wait for the remaining files; what the thread could not write is raised here."""
        while not self._done.wait(0.1):  # a timed wait: Ctrl+C still interrupts
            pass
        self._raise_error()

    def stop(self):
        """No more results after the current one (Ctrl+C, a signal); returns once the thread has ended.

        An interpreter that exits while the thread is inside torch aborts («terminate called
        without an active exception», status 134): the current image is let finish first.
        """
        with self._speaking:
            self._stop.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            _join(self._thread)

    def _raise_error(self):
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def _join(thread):
    """Wait for a thread that is ending; a second Ctrl+C meanwhile does not cut the wait short.

    The first stop is already on its way out; one that comes with none under way is raised after.
    """
    again = None
    while thread.is_alive():
        try:
            thread.join(0.1)  # a timed wait: the signal handlers still run
        except KeyboardInterrupt as exc:
            again = again or exc
    if again is not None and sys.exc_info()[1] is None:
        raise again


def _error_summary(sentences):
    """The message box's text: a few sentences, so that the box fits any screen."""
    shown = sentences[:MESSAGE_BOX_SENTENCES]
    more = len(sentences) - len(shown)
    many = "archivos más que no se pudieron" if more > 1 else "archivo más que no se pudo"
    tail = [f"Y {more} {many} clasificar: la terminal los nombra."] if more else []
    return "\n\n".join(shown + tail)


def _terminal_instead(reason, ask, say):
    # The reason is Tk's, in English ("couldn't connect to display"): not for the user.
    say("No se puede abrir una ventana: se usará la terminal.")
    return TerminalUI(ask, say)


class DesktopUI:
    """The easygui picker, the result window and message boxes (gui/); remembers the folder."""

    def __init__(self, state_file=None, say=None):
        from classifier.gui import boxes, picker, result_window, timers

        timers.check_tk()
        self.picker, self.window, self.boxes = picker, result_window, boxes
        self.say = say
        self.unavailable = timers.DisplayUnavailable
        self.state_file = state_file or default_state_file()
        self.folder = start_folder(self.state_file)

    def pick(self, give_up=None):
        paths = self.picker.pick_images(self.folder, give_up)
        if paths:
            self.folder = os.path.dirname(os.path.abspath(paths[0]))
            remember_folder(self.state_file, self.folder)
        return paths

    def show(self, results, stream=None):
        return self.window.show_results(results, stream, self.say)

    def error(self, title, message):
        try:
            self.boxes.show_error(title, message)
        except self.unavailable:
            pass  # the terminal line is already printed


# --- the entry ------------------------------------------------------------------------------------


def has_display():
    """False on Linux and other X11 systems without DISPLAY or WAYLAND_DISPLAY."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def error_box(title, message):
    """The error in a message box where there is a screen and tkinter; else nothing (its line is printed)."""
    if not has_display():
        return
    try:
        from classifier.gui.boxes import show_error
        from classifier.gui.timers import DisplayUnavailable
    except ImportError:
        return
    try:
        show_error(title, message)
    except (ImportError, DisplayUnavailable, KeyboardInterrupt):
        pass  # no Tk, no screen, or Ctrl+C on the box: the program ends with the error all the same


def tk_install_hint():
    if sys.platform.startswith("linux"):
        return "instálelo con «sudo apt install python3-tk» (Debian y Ubuntu) o el paquete tkinter de su sistema"
    return "el instalador de python.org para Windows y macOS lo incluye: reinstale Python desde allí"


def run_desktop(load, top_k, log=None, say=None, ask=None, describe=None, fetch=None, recursive=False):
    """Entry of the desktop mode; load() returns the classifier and runs behind the picker.

    describe(classifier): the sentence that says where the model runs.
    fetch(window): downloads the model if the cache lacks it, before the picker; window(text progress)
    makes the download window (None: no screen, the terminal shows the progress).
    """

    say = say or _print
    ask = ask or _input
    ui = None
    if not has_display():
        say("No hay pantalla disponible: escriba la ruta de cada imagen en la terminal.")
    else:
        try:
            ui = DesktopUI(say=say)
        except ImportError as exc:  # this Python has no tkinter
            say(f"Este Python no tiene tkinter ({exc}), que hace falta para las ventanas: {tk_install_hint()}. "
                "Se usará la terminal.")
    windows = ui is not None
    if fetch is not None:
        failure = _fetch_model(fetch, windows, ui, say)
        if failure is not None:
            return failure
    loader = BackgroundLoader(lambda: _load_for_desktop(load, windows), say, describe,
                              announce_at_once=windows).start()
    if ask is _input:  # a prompt ends at once when the model fails meanwhile
        ask = functools.partial(_input, give_up=loader.failed_event)
    ui = ui or TerminalUI(ask, say)
    try:
        return desktop_loop(ui, loader, top_k, say, ask, log, recursive)
    except Stopped:
        raise  # SIGTERM or SIGHUP: the command line ends with their status
    except KeyboardInterrupt:
        say("\n¡Hasta luego!")
        return ExitStatus.OK


def _fetch_model(fetch, windows, ui, say):
    """The first run's download, in its own window, before the picker; None when the model is there.

    A picker open meanwhile would only lead to a wait; the window shows how long it will be.
    """
    try:
        if windows:
            from classifier.gui.download_window import DownloadWindow

            fetch(DownloadWindow)
        else:
            fetch(None)
    except ModelLoadError as exc:
        say(f"Error: {exc}")
        if ui is not None:
            ui.error(MODEL_ERROR_TITLE, str(exc))
        return ExitStatus.MODEL_FAILED
    except Stopped:
        raise  # SIGTERM or SIGHUP: the command line ends with their status
    except KeyboardInterrupt:  # Ctrl+C or Cancelar
        say(f"\n{DownloadInterrupted.SENTENCE}")
        return ExitStatus.OK
    return None


def _load_for_desktop(load, windows):
    classifier = load()
    if windows:
        from classifier.gui.timers import preload

        preload()
    return classifier
