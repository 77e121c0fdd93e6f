"""Every Tk, easygui, matplotlib and signal detail of the desktop mode.

Three things open on screen: the easygui file picker, the result window (a Tk
window holding a matplotlib canvas, with our own Spanish key bar instead of
matplotlib's English toolbar) and message boxes. Each owns its timers and signal
handler and releases them before its window goes: a Tk timer left behind fires
later inside another dialog's event loop, where its command no longer exists, and
Tcl prints "invalid command name" to the terminal.
"""

import gc
import os
import sys
from contextlib import contextmanager

from .defaults import IMAGE_EXTENSIONS
from .drawing import FIGURE_DPI, draw_result
from .errors import quoted, system_reason
from .status import StopEvent, stop_signal_handler

PICKER_TITLE = "Elija una o varias imágenes para clasificar"
WINDOW_TITLE = "Clasificador de imágenes"
SAVE_TITLE = "Guardar la figura"
SAVE_FORMATS = {".png": "Imagen PNG", ".pdf": "Documento PDF", ".svg": "Imagen SVG"}
POLL_MS = 100  # how often Tk lets Python look at Ctrl+C and at the model loader
SCREEN_SHARE = (0.94, 0.86)  # of the screen's width and height: room for window borders and panels
KEY_BAR = "Intro: otra imagen  ·  Esc: terminar  ·  Ctrl+S: guardar la figura"
PAGE_KEYS = "←/→: imagen anterior/siguiente"
KEY_BAR_HEIGHT = 34  # pixels of the bar under the figure

# Strings of Tk's own file dialog that Tk ships no Spanish for.
_TK_SPANISH = {
    "Show &Hidden Files and Directories": "Mostrar archivos y carpetas &ocultos",
    "&Directory:": "&Carpeta:",
    "&OK": "&Aceptar",
    "OK": "Aceptar",
}


class DisplayUnavailable(Exception):
    """No window can be opened (no screen, or Tk cannot start)."""


def check_tk():
    """Raise ImportError when this Python has no tkinter (a Debian or Ubuntu one without python3-tk)."""
    import tkinter  # noqa: F401


class Timers:
    """after() callbacks on one Tk interpreter, all cancelled by cancel_all()."""

    def __init__(self, widget):
        self.widget = widget
        self._ids = {}

    def every(self, ms, callback):
        """Run callback every ms milliseconds until cancel_all()."""

        def tick():
            self._ids.pop("every", None)
            callback()
            if self.widget is not None:
                self._ids["every"] = self.widget.after(ms, tick)

        self._ids["every"] = self.widget.after(ms, tick)

    def once(self, ms, callback, name="once"):
        def run():
            self._ids.pop(name, None)
            callback()

        self._ids[name] = self.widget.after(ms, run)

    def stop_when(self, events, action):
        """Poll the events; once one is set, cancel every timer and run action, once."""

        def poll():
            if any(event.is_set() for event in events):
                self.cancel_all()
                action()

        self.every(POLL_MS, poll)

    def cancel_all(self):
        """Cancel ours, then any timer left on this interpreter (matplotlib's idle draw, say)."""
        import tkinter

        widget, self.widget = self.widget, None
        if widget is None:
            return
        try:
            pending = list(self._ids.values()) + list(widget.tk.splitlist(widget.tk.call("after", "info")))
            for timer in dict.fromkeys(pending):
                try:
                    widget.after_cancel(timer)
                except (tkinter.TclError, ValueError):
                    pass  # already ran or gone
        except tkinter.TclError:
            pass  # the interpreter is already deleted: nothing can fire
        self._ids.clear()


@contextmanager
def stop_signals_set(event):
    """While Tk waits inside Tcl, Python cannot raise at a signal: note it in event (a StopEvent) instead.

    The previous handlers are put back on the way out.
    """
    with stop_signal_handler(lambda signum, frame: event.stop(signum)):
        yield


def preload():
    """Import the window's matplotlib now (the model loader's thread), not when the first window opens."""
    import matplotlib.backends.backend_tkagg  # noqa: F401


def window_box(screen_width, screen_height):
    """The figure's largest size on this screen: room left for borders, panels and our key bar."""
    return int(screen_width * SCREEN_SHARE[0]), int(screen_height * SCREEN_SHARE[1]) - KEY_BAR_HEIGHT


def _spanish(root):
    """Tk's dialogs in Spanish, whatever the system's locale."""
    import tkinter

    try:
        root.tk.eval("package require msgcat; ::msgcat::mclocale es; "
                     "namespace eval ::tk {::msgcat::mcload [file join $::tk_library msgs]}")
        for english, spanish in _TK_SPANISH.items():
            root.tk.call("namespace", "eval", "::tk", ["::msgcat::mcset", "es", english, spanish])
    except tkinter.TclError:
        pass  # a Tk without its message catalogue: its dialogs stay in English


def _to_front(window):
    """Raise a new window above the others and give it the keyboard."""
    import tkinter

    try:
        window.lift()
        window.attributes("-topmost", True)
        window.focus_force()
        window.attributes("-topmost", False)  # on top now, not for ever
        window.focus_lastfor().focus_force()
    except tkinter.TclError:
        pass  # the window went meanwhile


def _release(root, timers):
    """Cancel every timer, destroy the window, free its Tk objects now, on this thread."""
    import tkinter

    timers.cancel_all()
    try:
        root.destroy()
    except tkinter.TclError:
        pass  # already destroyed (Ctrl+C)
    # Closed windows leave reference cycles holding Tk objects: freed by the cyclic collector on
    # whichever thread allocates next, their Tcl calls would fail there. Free them here.
    gc.collect()


# --- the picker -----------------------------------------------------------------------------------


def picker_filetypes():
    """easygui file masks: image files first (the default filter), then all files."""
    masks = [f"*{ext}" for ext in IMAGE_EXTENSIONS] + [f"*{ext.upper()}" for ext in IMAGE_EXTENSIONS]
    return [[*masks, "Imágenes"], ["*", "Todos los archivos"]]


def pick_images(folder, give_up=None):
    """The easygui picker, several files allowed; returns the chosen paths ([] if none).

    give_up: a threading.Event that closes the picker at once when set (the model
    failed to load). Ctrl+C closes it and raises KeyboardInterrupt.
    """
    import tkinter

    interrupted = StopEvent()
    events = [interrupted] + ([give_up] if give_up is not None else [])
    try:
        with stop_signals_set(interrupted):
            chosen = _easygui_open(folder, events)
    except tkinter.TclError as exc:
        if not any(event.is_set() for event in events):
            raise DisplayUnavailable(str(exc)) from exc
        chosen = None
    finally:
        gc.collect()
    interrupted.raise_if_set()
    if give_up is not None and give_up.is_set():
        return []
    if isinstance(chosen, str):
        chosen = [chosen]
    return list(chosen or [])


def _easygui_open(folder, events):
    import easygui
    from easygui.boxes import fileopen_box

    dialogs = fileopen_box.ut.tk_FileDialog  # the tkinter.filedialog that easygui calls
    original = dialogs.askopenfilenames

    def ask(**options):
        # easygui always lists its own "All files" first: open on the images instead.
        images = [kind for kind in options.get("filetypes", ()) if kind[0] == "Imágenes"]
        options["filetypes"] = images + [("Todos los archivos", ("*",))]
        parent = options.get("parent")
        if not hasattr(parent, "after"):  # a stand-in in tests
            return original(**options)
        _spanish(parent)
        _hide_dot_files(parent)
        timers = Timers(parent)
        timers.once(POLL_MS, lambda: _dialog_to_front(parent), "front")
        timers.stop_when(events, lambda: _stop_dialog(parent))
        try:
            return original(**options)
        finally:
            timers.cancel_all()

    dialogs.askopenfilenames = ask
    try:
        return easygui.fileopenbox(title=PICKER_TITLE, default=os.path.join(folder, "*"),
                                   filetypes=picker_filetypes(), multiple=True)
    finally:
        dialogs.askopenfilenames = original


def _dialog_to_front(root):
    dialog = next((w for w in root.winfo_children() if w.winfo_class() == "TkFDialog"), None)
    if dialog is None and sys.platform not in ("win32", "darwin"):
        try:  # Tk's own dialog on X11 is a Tcl widget Python does not wrap
            # The keyboard goes to the widget the dialog chose (its file-name entry), not its frame.
            root.tk.eval("if {[winfo exists .__tk_filedialog]} {raise .__tk_filedialog; "
                         "focus -force [focus -lastfor .__tk_filedialog]}")
        except Exception:  # noqa: BLE001 - cosmetic: the dialog works all the same
            pass
        return
    if dialog is not None:
        _to_front(dialog)


def _end_wait(root, variable):
    """End a modal Tk dialog: on X11, as its Cancel button does (Tk's own dialogs wait on
    a ::tk::Priv variable); elsewhere the system's dialog ends with its root."""
    import tkinter

    try:
        if root.tk.call("tk", "windowingsystem") == "x11":
            root.tk.eval(f"set ::tk::Priv({variable}) {{}}")
        else:
            root.destroy()
    except tkinter.TclError:
        pass  # already gone


def _stop_dialog(root):
    _end_wait(root, "selectFilePath")


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


# --- message boxes --------------------------------------------------------------------------------


def show_error(title, message):
    """A Spanish message box in front of everything; returns when the user closes it."""
    import tkinter
    from tkinter import messagebox

    try:
        root = tkinter.Tk()
    except tkinter.TclError as exc:
        raise DisplayUnavailable(str(exc)) from exc
    timers = Timers(root)
    interrupted = StopEvent()
    try:
        root.withdraw()
        _spanish(root)
        timers.once(POLL_MS, lambda: _message_to_front(root), "front")
        timers.stop_when([interrupted], lambda: _close_message(root))
        with stop_signals_set(interrupted):
            messagebox.showerror(title, message, parent=root)
    except tkinter.TclError:
        if not interrupted.is_set():
            raise
    finally:
        _release(root, timers)
    interrupted.raise_if_set()


def _message_to_front(root):
    # Tk's message box is a Tcl widget Python does not wrap (elsewhere, the system's own box).
    try:
        root.tk.eval("foreach w [winfo children .] {if {[winfo toplevel $w] eq $w} {raise $w; focus -force $w}}")
    except Exception:  # noqa: BLE001 - cosmetic
        pass


def _close_message(root):
    _end_wait(root, "button")


# --- the result window ----------------------------------------------------------------------------


class ResultWindow:
    """One window showing one or several results as pages; waits for the user's answer.

    wait() returns True (Intro: another image), False (Esc: end) or None (closed with
    the x: the terminal asks). Ctrl+C closes it and raises KeyboardInterrupt.
    """

    def __init__(self, results):
        import tkinter

        self.results = results
        self.page = 0
        self.answer = None
        self._saving = False
        self.interrupted = StopEvent()
        try:
            self.root = tkinter.Tk(className="clasificador")
        except tkinter.TclError as exc:
            raise DisplayUnavailable(str(exc)) from exc
        self.timers = Timers(self.root)
        try:
            self._build()
        except BaseException:
            _release(self.root, self.timers)
            raise

    def _build(self):
        import tkinter

        from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg
        from matplotlib.figure import Figure

        root = self.root
        _spanish(root)
        screen = root.winfo_screenwidth(), root.winfo_screenheight()
        self.box = window_box(*screen)
        # A plain Figure and canvas: no pyplot manager, so no English toolbar, readout or key bindings.
        self.figure = Figure(dpi=FIGURE_DPI)
        self.canvas = FigureCanvasTkAgg(self.figure, master=root)
        bar = tkinter.Frame(root, height=KEY_BAR_HEIGHT)
        self.status = tkinter.Label(bar, anchor="w", padx=10)
        save = tkinter.Button(bar, text="Guardar la figura…", command=self.save)
        save.pack(side="right", padx=6, pady=3)
        self.status.pack(side="left", fill="x", expand=True)
        bar.pack(side="bottom", fill="x")
        self.canvas.get_tk_widget().pack(side="top", fill="both", expand=True)
        root.protocol("WM_DELETE_WINDOW", lambda: self._finish(None))
        for key, action in (("<Return>", lambda: self._finish(True)), ("<KP_Enter>", lambda: self._finish(True)),
                            ("<Escape>", lambda: self._finish(False)), ("<Control-s>", self.save),
                            ("<Left>", lambda: self.turn(-1)), ("<Right>", lambda: self.turn(1))):
            root.bind(key, lambda event, action=action: action())
        self._draw()

    def _draw(self):
        result = self.results[self.page]
        self.figure.clear()
        layout = draw_result(self.figure, result.picture, result.predictions, result.heatmap, result.seen,
                             box=self.box)
        name = os.path.basename(result.path)
        count = len(self.results)
        where = f"Imagen {self.page + 1} de {count}: {name}" if count > 1 else name
        self.root.title(f"{WINDOW_TITLE}: {where}")
        keys = f"{KEY_BAR}  ·  {PAGE_KEYS}" if count > 1 else KEY_BAR
        self.status.configure(text=f"{where}   —   {keys}" if count > 1 else keys)
        self.root.geometry(f"{layout.width}x{layout.height + KEY_BAR_HEIGHT}")
        self.canvas.draw_idle()

    def turn(self, step):
        page = min(max(self.page + step, 0), len(self.results) - 1)
        if page != self.page:
            self.page = page
            self._draw()

    def save(self):
        from tkinter import filedialog, messagebox

        result = self.results[self.page]
        stem = os.path.splitext(os.path.basename(result.path))[0] or "imagen"
        self._saving = True
        try:
            target = filedialog.asksaveasfilename(
                parent=self.root, title=SAVE_TITLE, initialfile=f"{stem}_resultado.png", defaultextension=".png",
                filetypes=[(kind, f"*{ext}") for ext, kind in SAVE_FORMATS.items()],
            )
        finally:
            self._saving = False
        if not target or self.interrupted.is_set():
            return
        extension = os.path.splitext(target)[1].lower()
        if extension not in SAVE_FORMATS:
            reason = f"elija un nombre acabado en {', '.join(SAVE_FORMATS)}"
        else:
            try:
                self.figure.savefig(target)
                return
            except OSError as exc:
                reason = system_reason(exc)
        messagebox.showerror(SAVE_TITLE, f"No se pudo guardar la figura en {quoted(target)}: {reason}.",
                             parent=self.root)

    def _finish(self, answer):
        self.answer = answer
        self.root.quit()

    def _interrupted(self):
        if self._saving:  # the save dialog waits in its own loop: end it first
            _stop_dialog(self.root)
        self._finish(None)

    def wait(self):
        self.timers.once(POLL_MS, lambda: _to_front(self.root), "front")
        self.timers.stop_when([self.interrupted], self._interrupted)
        try:
            with stop_signals_set(self.interrupted):
                self.root.mainloop()
        finally:
            self.close()
        self.interrupted.raise_if_set()
        return self.answer

    def close(self):
        self.figure.clear()
        _release(self.root, self.timers)


def show_results(results):
    """Open the window on these results and wait for the user; see ResultWindow.wait()."""
    return ResultWindow(results).wait()


# --- the download window (the first run) ----------------------------------------------------------


DOWNLOAD_TITLE = "Descargando el modelo…"
DOWNLOAD_NOTE = "Solo ocurre la primera vez: después el modelo se usa sin conexión."


class DownloadWindow:
    """A small window while the model downloads: a bar, MB done of total, speed, time left and Cancelar.

    A hub.DownloadProgress. The download's loop calls advance() about ten times a second on the
    main thread, which also lets Tk draw and read the button: no mainloop, no timer. The window
    opens with the first figures and closes when the download ends. Cancelar, Esc, Intro on the
    button or the x ask the download to stop, as Ctrl+C does. text: the terminal's progress, which
    still gets the sentences (what is downloaded, and the summary).
    """

    def __init__(self, text=None):
        self.text = text
        self.root = None
        self._unavailable = False
        self._cancel = False

    def announce(self, sentence):
        if self.text is not None:
            self.text.announce(sentence)

    def cancelled(self):
        return self._cancel

    def advance(self, state):
        import tkinter

        if self.root is None and not self._unavailable:
            self._open()
        if self.root is None:
            if self.text is not None:
                self.text.advance(state)
            return
        try:
            if state.connecting:
                from .hub import connecting_text

                self.amounts.configure(text=connecting_text())
            else:
                self.bar.configure(value=state.fraction * 100)
                self.amounts.configure(text=f"{round(state.fraction * 100)} %   ·   {state.amounts()}")
                self.speed.configure(text=f"{state.rate()}   ·   {state.time_left()}")
            self.root.update()
        except tkinter.TclError:  # the window went (the session's end): the download goes on without it
            self._close()
            self._unavailable = True

    def end(self, state, completed):
        self._close()
        if self.text is not None:
            self.text.end(state, completed)

    def _open(self):
        import tkinter
        from tkinter import ttk

        try:
            root = tkinter.Tk(className="clasificador")
        except tkinter.TclError:
            self._unavailable = True  # no screen after all: the terminal shows the progress
            return
        self.root = root
        root.title(DOWNLOAD_TITLE)
        root.resizable(False, False)
        frame = tkinter.Frame(root, padx=18, pady=14)
        frame.pack(fill="both", expand=True)
        tkinter.Label(frame, text=DOWNLOAD_TITLE, font="TkHeadingFont", anchor="w").pack(fill="x")
        tkinter.Label(frame, text=DOWNLOAD_NOTE, anchor="w").pack(fill="x", pady=(2, 10))
        self.bar = ttk.Progressbar(frame, orient="horizontal", length=380, mode="determinate", maximum=100)
        self.bar.pack(fill="x")
        self.amounts = tkinter.Label(frame, text="", anchor="w")
        self.amounts.pack(fill="x", pady=(8, 0))
        self.speed = tkinter.Label(frame, text="", anchor="w")
        self.speed.pack(fill="x")
        button = tkinter.Button(frame, text="Cancelar", command=self._cancelled, default="active")
        button.pack(side="right", pady=(12, 0))
        for key in ("<Escape>", "<Return>", "<KP_Enter>"):
            root.bind(key, lambda event: self._cancelled())
        root.protocol("WM_DELETE_WINDOW", self._cancelled)
        root.update_idletasks()
        width, height = root.winfo_reqwidth(), root.winfo_reqheight()
        left = max((root.winfo_screenwidth() - width) // 2, 0)
        top = max((root.winfo_screenheight() - height) // 3, 0)
        root.geometry(f"+{left}+{top}")
        _to_front(root)
        button.focus_set()

    def _cancelled(self):
        self._cancel = True

    def _close(self):
        if self.root is not None:
            root, self.root = self.root, None
            _release(root, Timers(root))
