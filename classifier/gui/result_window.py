"""The result window: a Tk window holding the matplotlib figure (photo, map, bars) with our own Spanish key bar
instead of matplotlib's English toolbar, one page per photo, saving the figure with Ctrl+S.
"""

import os

from classifier.base.errors import quoted, system_reason
from classifier.base.status import StopEvent
from classifier.gui.boxes import message_to_front
from classifier.gui.timers import POLL_MS, DisplayUnavailable, Timers, end_wait, release, stop_signals_set
from classifier.gui.tk_dialogs import keep_dialog_keys, prepare_file_dialog, spanish, to_front

WINDOW_TITLE = "Clasificador de imágenes"
SAVE_TITLE = "Guardar la figura"
SAVE_FORMATS = {".png": "Imagen PNG", ".pdf": "Documento PDF", ".svg": "Imagen SVG"}
SCREEN_SHARE = (0.94, 0.86)  # of the screen's width and height: room for window borders and panels
HINTS = ("Intro: otra imagen", "Esc: terminar", "Ctrl+S: guardar la figura")
PAGE_HINT = "← →: pasar de imagen"
KEY_BAR_HEIGHT = 58  # pixels of the bar under the figure: at 1024 x 600, «Clasificadas…» and two lines of hints
BAR_MIN_WIDTH = 640  # pixels the key bar needs to show its hints on one line
NAME_CHARS = 28  # of a file name in the key bar at most (the title bar has it whole)
NAME_BOX_CHARS = 20  # the name's fixed box, in average letters: at 1024 x 600 the hints keep two lines
KEEP_PAGES = 1  # pages either side of the one shown that keep their pictures in memory


def key_bar(pages):
    """The hints under the figure; a line breaks between hints, never inside one."""
    hints = HINTS + ((PAGE_HINT,) if pages else ())
    return "  ·  ".join(hint.replace(" ", "\u00a0") for hint in hints)


def window_box(screen_width, screen_height):
    """The figure's largest size on this screen: room left for borders, panels and our key bar."""
    return int(screen_width * SCREEN_SHARE[0]), int(screen_height * SCREEN_SHARE[1]) - KEY_BAR_HEIGHT


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
            release(self.root, self.timers)
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
            self.timers.once(POLL_MS, lambda: message_to_front(self.root), "box-front")
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
            end_wait(self.root, self._modal)
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
        release(self.root, self.timers)


def show_results(results, stream=None, say=None):
    """Open the window on these results and wait for the user; see ResultWindow.wait()."""
    return ResultWindow(results, stream, say).wait()
