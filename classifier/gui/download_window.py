"""The first run's download window: the progress of the model download, with Cancelar."""

from classifier.gui.timers import Timers, release
from classifier.gui.tk_dialogs import to_front

DOWNLOAD_TITLE = "Descargando el modelo…"
DOWNLOAD_NOTE = "Solo ocurre la primera vez: después el modelo se usa sin conexión."


class DownloadWindow:
    """A small window while the model downloads: a bar, MB done of total, speed, time left and Cancelar.

    A DownloadProgress (hub/download_progress.py). The download's loop calls advance() about ten times a second on the
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
                from classifier.hub.words import connecting_text

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
        window = open_progress_window(DOWNLOAD_TITLE, DOWNLOAD_NOTE, self._cancelled)
        if window is None:
            self._unavailable = True  # no screen after all: the terminal shows the progress
            return
        self.root, self.bar, self.amounts, self.speed = window

    def _cancelled(self):
        self._cancel = True

    def _close(self):
        if self.root is not None:
            root, self.root = self.root, None
            release(root, Timers(root))


def open_progress_window(title, note, cancel):
    """A small centred window: a heading, a note, a bar, two lines of figures and Cancelar (also Esc, Intro
    on the button and the x, each calling cancel()). (root, bar, first line, second line), or None without
    a screen. Its owner calls root.update() as the work advances: no mainloop, no timer."""
    import tkinter
    from tkinter import ttk

    try:
        root = tkinter.Tk(className="clasificador")
    except tkinter.TclError:
        return None
    root.title(title)
    root.resizable(False, False)
    frame = tkinter.Frame(root, padx=18, pady=14)
    frame.pack(fill="both", expand=True)
    tkinter.Label(frame, text=title, font="TkHeadingFont", anchor="w").pack(fill="x")
    tkinter.Label(frame, text=note, anchor="w").pack(fill="x", pady=(2, 10))
    bar = ttk.Progressbar(frame, orient="horizontal", length=380, mode="determinate", maximum=100)
    bar.pack(fill="x")
    first = tkinter.Label(frame, text="", anchor="w")
    first.pack(fill="x", pady=(8, 0))
    second = tkinter.Label(frame, text="", anchor="w")
    second.pack(fill="x")
    button = tkinter.Button(frame, text="Cancelar", command=cancel, default="active")
    button.pack(side="right", pady=(12, 0))
    for key in ("<Escape>", "<Return>", "<KP_Enter>"):
        root.bind(key, lambda event: cancel())
    root.protocol("WM_DELETE_WINDOW", cancel)
    root.update_idletasks()
    width, height = root.winfo_reqwidth(), root.winfo_reqheight()
    left = max((root.winfo_screenwidth() - width) // 2, 0)
    top = max((root.winfo_screenheight() - height) // 3, 0)
    root.geometry(f"+{left}+{top}")
    to_front(root)
    button.focus_set()
    return root, bar, first, second
