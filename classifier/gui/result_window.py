"""Every Tk, easygui, matplotlib and signal detail of the desktop mode.

Three things open on screen: the easygui file picker, the result window (a Tk
window holding a matplotlib canvas, with our own Spanish key bar instead of
matplotlib's English toolbar) and message boxes. Each owns its timers and signal
handler and releases them before its window goes: a Tk timer left behind fires
later inside another dialog's event loop, where its command no longer exists, and
Tcl prints "invalid command name" to the terminal. Tk's own file dialog (its Spanish, its keys)
is prepared in tk_dialogs.py.
"""

import gc
import os
from contextlib import contextmanager

from classifier.base.defaults import EXPLAINED_EXTENSIONS, IMAGE_EXTENSIONS
from classifier.base.errors import quoted, system_reason
from classifier.base.status import StopEvent, stop_signal_handler
from classifier.gui.tk_dialogs import keep_dialog_keys, prepare_file_dialog, spanish, to_front

PICKER_TITLE = "Elija una o varias imágenes para clasificar"
WINDOW_TITLE = "Clasificador de imágenes"
SAVE_TITLE = "Guardar la figura"
SAVE_FORMATS = {".png": "Imagen PNG", ".pdf": "Documento PDF", ".svg": "Imagen SVG"}
POLL_MS = 100  # how often Tk lets Python look at Ctrl+C and at the model loader
SCREEN_SHARE = (0.94, 0.86)  # of the screen's width and height: room for window borders and panels
HINTS = ("Intro: otra imagen", "Esc: terminar", "Ctrl+S: guardar la figura")
PAGE_HINT = "← →: pasar de imagen"
KEY_BAR_HEIGHT = 58  # pixels of the bar under the figure: at 1024 x 600, «Clasificadas…» and two lines of hints
BAR_MIN_WIDTH = 640  # pixels the key bar needs to show its hints on one line
NAME_CHARS = 28  # of a file name in the key bar at most (the title bar has it whole)
NAME_BOX_CHARS = 20  # the name's fixed box, in average letters: at 1024 x 600 the hints keep two lines
KEEP_PAGES = 1  # pages either side of the one shown that keep their pictures in memory


class DisplayUnavailable(Exception):
    """No window can be opened (no screen, or Tk cannot start)."""


def check_tk():
    """Raise ImportError when this Python has no tkinter (a Debian or Ubuntu one without python3-tk)."""
    import tkinter  # noqa: F401


class Timers:
    """after() callbacks on one Tk interpreter, all cancelled by cancel_all() (with any other Python left there)."""

    def __init__(self, widget):
        self.widget = widget
        self._ids = {}
        self._stopped = set()

    def every(self, ms, callback, name="every"):
        """Run callback every ms milliseconds until cancel(name) or cancel_all()."""

        def tick():
            self._ids.pop(name, None)
            self._stopped.discard(name)
            callback()
            if self.widget is not None and name not in self._stopped:
                self._ids[name] = self.widget.after(ms, tick)

        self._ids[name] = self.widget.after(ms, tick)

    def cancel(self, name):
        """Cancel one timer (from inside its own callback too)."""
        self._stopped.add(name)
        timer = self._ids.pop(name, None)
        if timer is not None and self.widget is not None:
            self.widget.after_cancel(timer)

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

        self.every(POLL_MS, poll, "stop")

    def cancel_all(self):
        """Cancel ours, then any other timer Python left on this interpreter (matplotlib's idle draw).

        Never Tk's own (the file list's type-ahead reset, say): their scripts are Tcl, which
        after_cancel cannot take apart (a TypeError), and Tk ends them with their widgets.
        """
        import tkinter

        widget, self.widget = self.widget, None
        if widget is None:
            return
        try:
            python = _python_commands(widget)
            pending = list(self._ids.values()) + [
                timer for timer in widget.tk.splitlist(widget.tk.call("after", "info"))
                if _timer_script(widget, timer) in python]
            for timer in dict.fromkeys(pending):
                try:
                    widget.after_cancel(timer)
                except (tkinter.TclError, ValueError):
                    pass  # already ran or gone
        except tkinter.TclError:
            pass  # the interpreter is already deleted: nothing can fire
        self._ids.clear()


def _python_commands(widget):
    """The Tcl command names Python registered on the widget's interpreter (tkinter keeps them per widget)."""
    names, widgets = set(), [widget._root()]
    while widgets:
        current = widgets.pop()
        names.update(getattr(current, "_tclCommands", None) or ())
        widgets.extend(getattr(current, "children", {}).values())
    return names


def _timer_script(widget, timer):
    """A pending timer's script when it is one word (a Python callback's command), else None."""
    import tkinter

    try:
        script = widget.tk.splitlist(widget.tk.call("after", "info", timer))[0]
    except (tkinter.TclError, IndexError):
        return None
    return script if isinstance(script, str) else None


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


def key_bar(pages):
    """The hints under the figure; a line breaks between hints, never inside one."""
    hints = HINTS + ((PAGE_HINT,) if pages else ())
    return "  ·  ".join(hint.replace(" ", "\u00a0") for hint in hints)


def window_box(screen_width, screen_height):
    """The figure's largest size on this screen: room left for borders, panels and our key bar."""
    return int(screen_width * SCREEN_SHARE[0]), int(screen_height * SCREEN_SHARE[1]) - KEY_BAR_HEIGHT


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
    """easygui file masks: image files first (the default filter), then all files.

    The images include the files the program explains (an iPhone's HEIC photo, say): hidden,
    a student would never reach the sentence that says what to do with them.
    """
    extensions = IMAGE_EXTENSIONS + EXPLAINED_EXTENSIONS
    masks = [f"*{ext}" for ext in extensions] + [f"*{ext.upper()}" for ext in extensions]
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
        spanish(parent)
        prepare_file_dialog(parent)
        timers = Timers(parent)
        keep_dialog_keys(parent, timers, POLL_MS)
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


# --- message boxes --------------------------------------------------------------------------------


def show_error(title, message):
    """A Spanish message box in front of everything; returns when the user closes it."""
    import tkinter

    try:
        root = tkinter.Tk()
    except tkinter.TclError as exc:
        raise DisplayUnavailable(str(exc)) from exc
    timers = Timers(root)
    interrupted = StopEvent()
    try:
        root.withdraw()
        spanish(root)
        timers.stop_when([interrupted], lambda: _close_message(root))
        with stop_signals_set(interrupted):
            _message_box(root, timers, title, message)
    except tkinter.TclError:
        if not interrupted.is_set():
            raise
    finally:
        _release(root, timers)
    interrupted.raise_if_set()


def _message_box(parent, timers, title, message):
    """Tk's error box over parent, in front, its «Aceptar» button answering Intro, Space and Escape."""
    from tkinter import messagebox

    timers.once(POLL_MS, lambda: _message_to_front(parent), "front")
    messagebox.showerror(title, message, parent=parent)


# Tk's box answers Return only while a button has the focus, and KP_Enter never. Here the box's
# keys press the focused button, else its default one («Aceptar»), which also gets the focus.
_MESSAGE_KEYS = """
if {[winfo exists .__tk__messagebox]} {
    set box .__tk__messagebox
    set default [focus -lastfor $box]
    foreach button [winfo children $box] {
        if {[winfo class $button] in {Button TButton} && [$button cget -default] eq "active"} {
            set default $button
        }
    }
    # A focused button already answers Space by itself (its class binding).
    foreach {key focused_too} {<Return> 1 <KP_Enter> 1 <space> 0} {
        bind $box $key [list apply {{default focused_too focused} {
            if {[winfo class $focused] in {Button TButton}} {
                if {$focused_too} {$focused invoke}
            } elseif {[winfo exists $default]} {
                $default invoke
            }
        }} $default $focused_too %W]
    }
    raise $box
    focus -force $default
}
"""


def _message_to_front(root):
    # Tk's message box is a Tcl widget Python does not wrap (elsewhere, the system's own box). The
    # keyboard goes to the button the box chose («Aceptar»), not to its frame, where Intro and Space
    # would do nothing.
    try:
        root.tk.eval(_MESSAGE_KEYS)
    except Exception:  # noqa: BLE001 - cosmetic
        pass


def _close_message(root):
    _end_wait(root, "button")


# --- the result window ----------------------------------------------------------------------------


def _short_name(name, limit=NAME_CHARS):
    """A file name that fits the key bar: its start and its end, the middle left out."""
    if len(name) <= limit:
        return name
    keep = limit - 1
    return f"{name[:keep - keep // 2]}…{name[-(keep // 2):]}"


class ResultWindow:
    """One window showing one or several results as pages; waits for the user's answer.

    wait() returns True (Intro: another image), False (Esc: end) or None (closed with
    the x: the terminal asks). Ctrl+C closes it and raises KeyboardInterrupt.

    stream: more results on their way (desktop.Classification): polled for new pages,
    for how many pages there will be, and for a message to show once it is done.
    Only the pages next to the one shown keep their pictures; the others are read
    again (stream.pictures(result)) when the user turns to them.
    say: writes a line to the terminal (the save's confirmation).
    """

    def __init__(self, results, stream=None, say=None):
        import tkinter

        self.results = list(results)
        self.stream = stream
        self.say = say
        self.page = 0
        self.answer = None
        self._modal = None  # the ::tk::Priv variable a dialog open over the window waits on
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

    @property
    def count(self):
        """Pages there are, or will be once the stream is done."""
        return self.stream.expected if self.stream is not None else len(self.results)

    def _build(self):
        import tkinter
        import tkinter.font

        from matplotlib.backends.backend_tkagg import FigureCanvasTkAgg
        from matplotlib.figure import Figure

        from classifier.gui.drawing import FIGURE_DPI

        root = self.root
        spanish(root)
        screen = root.winfo_screenwidth(), root.winfo_screenheight()
        self.box = window_box(*screen)
        # The window's size, once: a multi-page window takes the whole box, so that no page moves
        # or resizes it; one page gets just its own size.
        first = self._layout(self.results[0])
        width, height = (self.box if self.count > 1 else (first.width, first.height))
        width = max(width, min(self.box[0], BAR_MIN_WIDTH))
        self.size = (width, height)
        # A plain Figure and canvas: no pyplot manager, so no English toolbar, readout or key bindings.
        self.figure = Figure(dpi=FIGURE_DPI)
        area = tkinter.Frame(root, background="white", width=width, height=height)
        self.canvas = FigureCanvasTkAgg(self.figure, master=area)
        bar = tkinter.Frame(root, height=KEY_BAR_HEIGHT)
        bar.pack_propagate(False)
        save = tkinter.Button(bar, text="Guardar la figura…", command=self.save)
        save.pack(side="right", padx=6, pady=3)
        self.pager = tkinter.Frame(bar)
        # ◀ ▶ side by side, then the page and its name in a box of fixed width: nothing moves
        # as the names' lengths change.
        self.back = tkinter.Button(self.pager, text="◀", width=2, command=lambda: self.turn(-1), takefocus=0)
        self.forward = tkinter.Button(self.pager, text="▶", width=2, command=lambda: self.turn(1), takefocus=0)
        for widget in (self.back, self.forward):
            widget.pack(side="left", pady=3)
        where_box = tkinter.Frame(self.pager, height=self.back.winfo_reqheight())
        where_box.pack_propagate(False)
        self.where = tkinter.Label(where_box, padx=4, anchor="w")
        self.where.pack(fill="both", expand=True)
        self._where_font = tkinter.font.Font(root, font=self.where.cget("font"))
        self._where_width = self._where_font.measure(f"{self.count} de {self.count}: " + "n" * NAME_BOX_CHARS) + 12
        where_box.configure(width=self._where_width)
        where_box.pack(side="left", pady=3)
        if self.count > 1:
            self.pager.pack(side="left", padx=(6, 0))
        self.status = tkinter.Label(bar, anchor="w", justify="left", padx=10)
        self.status.pack(side="left", fill="both", expand=True)
        # Hints wrap, never run under the button: at 1024 x 600 each stays readable.
        self.status.bind("<Configure>", lambda event: self.status.configure(wraplength=max(event.width - 20, 50)))
        bar.pack(side="bottom", fill="x")
        area.pack(side="top", fill="both", expand=True)
        root.geometry(f"{width}x{height + KEY_BAR_HEIGHT}")
        root.protocol("WM_DELETE_WINDOW", lambda: self._finish(None))
        for key, action in (("<Return>", lambda: self._finish(True)), ("<KP_Enter>", lambda: self._finish(True)),
                            ("<Escape>", lambda: self._finish(False)), ("<Control-s>", self.save),
                            ("<Left>", lambda: self.turn(-1)), ("<Right>", lambda: self.turn(1))):
            root.bind(key, lambda event, action=action: action())
        self.message = None  # a note in the key bar (the save's confirmation) until the next page
        self._draw()

    def _layout(self, result):
        from classifier.gui.drawing import plan_layout

        seen = result.seen if result.seen is not None else result.picture
        return plan_layout(result.picture.size, seen.size, result.heatmap is not None, len(result.predictions),
                           self.box)

    def _draw(self):
        from classifier.gui.drawing import draw_result

        result = self._with_pictures(self.page)
        self.figure.clear()
        layout = draw_result(self.figure, result.picture, result.predictions, result.heatmap, result.seen,
                             box=self.size)
        widget = self.canvas.get_tk_widget()
        # The figure centred in the window's fixed area; matplotlib follows the widget's size.
        widget.place(relx=0.5, rely=0.5, anchor="center", width=layout.width, height=layout.height)
        self._label()
        self.canvas.draw_idle()

    def _label(self):
        result = self.results[self.page]
        name = os.path.basename(result.path)
        count = self.count
        where = f"Imagen {self.page + 1} de {count}: {name}" if count > 1 else name
        self.root.title(f"{WINDOW_TITLE}: {where}")
        if count > 1:
            self.where.configure(text=self._page_name(f"{self.page + 1} de {count}: ", name))
            self.back.configure(state="normal" if self.page > 0 else "disabled")
            self.forward.configure(state="normal" if self.page + 1 < len(self.results) else "disabled")
        keys = key_bar(count > 1)
        waiting = self.stream is not None and not self.stream.done
        progress = f"Clasificadas {len(self.results)} de {count}…  ".replace(" ", "\u00a0", 3) if waiting else ""
        self.status.configure(text=self.message or f"{progress}{keys}")

    def _page_name(self, page, name):
        """«2 de 5: name», the name shortened in its middle until it fits the fixed box."""
        for limit in range(NAME_CHARS, 5, -1):
            text = page + _short_name(name, limit)
            if self._where_font.measure(text) + 12 <= self._where_width:  # the label's padding and border
                break
        return text

    def _with_pictures(self, page):
        """The page's result with its pictures; those of pages far from it are let go."""
        result = self.results[page]
        if result.picture is None and self.stream is not None:
            result = self.results[page] = self.stream.pictures(result)
        for index in range(len(self.results)):
            if abs(index - page) > KEEP_PAGES and self.results[index].picture is not None:
                self.results[index] = self.results[index]._replace(picture=None, seen=None)
        return result

    def turn(self, step):
        page = min(max(self.page + step, 0), len(self.results) - 1)
        if page != self.page:
            self.page = page
            self.message = None
            self._draw()

    def _arrivals(self):
        """New pages from the stream, a message once it is done."""
        new = self.stream.take()
        for result in new:
            far = len(self.results) - self.page > KEEP_PAGES
            self.results.append(result._replace(picture=None, seen=None) if far else result)
        if new or self.stream.done:
            self._label()
        if self.stream.done:
            self.timers.cancel("arrivals")
            notice = self.stream.take_message()
            if notice is not None:
                self._modal_box(*notice)

    def _modal_box(self, title, message):
        from tkinter import messagebox

        self._modal = "button"
        try:
            self.timers.once(POLL_MS, lambda: _message_to_front(self.root), "box-front")
            messagebox.showerror(title, message, parent=self.root)
        finally:
            self._modal = None

    def save(self):
        from tkinter import filedialog

        if self._modal is not None:
            return
        result = self.results[self.page]
        stem = os.path.splitext(os.path.basename(result.path))[0] or "imagen"
        folder = os.path.dirname(os.path.abspath(result.path))
        prepare_file_dialog(self.root)
        self._modal = "selectFilePath"
        keep_dialog_keys(self.root, self.timers, POLL_MS)
        try:
            # In the photo's folder, not the current one (often the program's own).
            target = filedialog.asksaveasfilename(
                parent=self.root, title=SAVE_TITLE, initialfile=f"{stem}_resultado.png", defaultextension=".png",
                initialdir=folder if os.path.isdir(folder) else None,
                filetypes=[(kind, f"*{ext}") for ext, kind in SAVE_FORMATS.items()],
            )
        finally:
            self._modal = None
            self.timers.cancel("dialog-keys")
        if not target or self.interrupted.is_set():
            return
        extension = os.path.splitext(target)[1].lower()
        if extension not in SAVE_FORMATS:
            reason = f"elija un nombre acabado en {', '.join(SAVE_FORMATS)}"
        else:
            from classifier.gui.drawing import save_figure

            try:
                save_figure(self.figure, target)
            except OSError as exc:
                reason = system_reason(exc)
            else:
                self.message = f"Figura guardada en {quoted(target)}."
                self._label()
                if self.say is not None:
                    self.say(self.message)
                return
        self._modal_box(SAVE_TITLE, f"No se pudo guardar la figura en {quoted(target)}: {reason}.")

    def _finish(self, answer):
        if self._modal is not None:  # keys reach the window only once its dialog is gone
            return
        self.answer = answer
        self.root.quit()

    def _interrupted(self):
        if self._modal is not None:  # a dialog over the window waits in its own loop: end it first
            _end_wait(self.root, self._modal)
            self._modal = None
        self._finish(None)

    def wait(self):
        self.timers.once(POLL_MS, lambda: to_front(self.root), "front")
        self.timers.stop_when([self.interrupted], self._interrupted)
        if self.stream is not None:
            self.timers.every(POLL_MS, self._arrivals, "arrivals")
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


def show_results(results, stream=None, say=None):
    """Open the window on these results and wait for the user; see ResultWindow.wait()."""
    return ResultWindow(results, stream, say).wait()


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
                from classifier.hub.locate import connecting_text

                self.amounts.configure(text=connecting_text())
            else:
                self.bar.configure(value=state.fraction * 100)
                self.amounts.configure(text=f"{round(state.fraction * 100)} %   ·   {state.amounts()}")
            # A wait is said as what it is (the hub's silence, its Retry-After), not as a frozen figure.
            self.speed.configure(text=state.waiting or ("" if state.connecting else
                                                        f"{state.rate()}   ·   {state.time_left()}"))
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
        to_front(root)
        button.focus_set()

    def _cancelled(self):
        self._cancel = True

    def _close(self):
        if self.root is not None:
            root, self.root = self.root, None
            _release(root, Timers(root))
