"""The desktop teaching's progress: the photos read with the base model, in the download window's look, with
Cancelar."""

from classifier.gui.download_window import open_progress_window
from classifier.gui.timers import Timers, release

READING_TITLE = "Leyendo las fotos…"
READING_NOTE = "Cada foto pasa una vez por el modelo; las ya leídas otras veces salen de la caché."


class ReadingWindow:
    """advance(done, total) from the reading's loop, on the main thread, lets Tk draw and read the keys;
    Cancelar, Esc, Intro on the button or the x set cancelled(). Without a screen it stays silent."""

    def __init__(self):
        self.root = None
        self._unavailable = False
        self._cancel = False

    def cancelled(self):
        return self._cancel

    def advance(self, done, total):
        import tkinter

        if self.root is None and not self._unavailable:
            window = open_progress_window(READING_TITLE, READING_NOTE, self._cancelled)
            if window is None:
                self._unavailable = True
                return
            self.root, self.bar, self.count, _ = window
        if self.root is None:
            return
        try:
            self.bar.configure(value=100 * done / total if total else 0)
            self.count.configure(text=f"{done} de {total} fotos")
            self.root.update()
        except tkinter.TclError:  # the window went (the session's end): the reading goes on without it
            self.close()
            self._unavailable = True

    def _cancelled(self):
        self._cancel = True

    def close(self):
        if self.root is not None:
            root, self.root = self.root, None
            release(root, Timers(root))
