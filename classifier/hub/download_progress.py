"""What a download tells a front-end (DownloadProgress, DownloadState) and the words it is told in.

The hub (core) drives it; the terminal line (text_progress.py) and the window (gui/download_window.py) show it: the
protocol lives here so that neither side imports the other for it.
"""

from classifier.base.spanish import decimal


class DownloadProgress:
    """What a front-end is told of a download; this base shows nothing.

    announce(sentence): before anything moves (which model, how big, where to).
    advance(state): about ten times a second while downloading; a DownloadState.
    end(state, completed): once, when the download ends (completed False: failed or stopped).
    cancelled(): True when the user asked to stop (a window's Cancelar): the download
    then ends as Ctrl+C ends it, with KeyboardInterrupt.
    """

    def announce(self, sentence):
        pass

    def advance(self, state):
        pass

    def end(self, state, completed):
        pass

    def cancelled(self):
        return False


class DownloadState:
    """Bytes done of total, speed (bytes/s, None until measured) and seconds elapsed."""

    def __init__(self, done, total, speed, elapsed, waiting=None):
        self.done, self.total, self.speed, self.elapsed = done, total, speed, elapsed
        self.waiting = waiting  # what the download waits for, in words, once it is a noticeable wait

    @property
    def connecting(self):
        """True before the hub has said which files, and how big: nothing to count yet."""
        return self.total is None

    @property
    def fraction(self):
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def seconds_left(self):
        if not self.speed or self.total is None:
            return None
        return max(self.total - self.done, 0) / self.speed

    def amounts(self):
        """«123,4 de 346,0 MB»."""
        return f"{megabytes(self.done)} de {megabytes(self.total)} MB"

    def rate(self):
        """«5,2 MB/s», «340 kB/s», or «… MB/s» before the first measure."""
        return speed_text(self.speed) if self.speed is not None else "… MB/s"

    def time_left(self):
        """«quedan 1 min 05 s», or «calculando…»."""
        left = self.seconds_left
        return "calculando…" if left is None else f"quedan {duration(left)}"


def megabytes(count):
    """Bytes as MB (10^6, as the hub and disks count them) with one decimal and a decimal comma."""
    return decimal((count or 0) / 1e6, 1)


def speed_text(per_second):
    """«5,2 MB/s» from 1 MB/s up, «340 kB/s» below."""
    if round(per_second / 1e3) >= 1000:
        return f"{megabytes(per_second)} MB/s"
    return f"{round(per_second / 1e3)} kB/s"


def duration(seconds):
    """«45 s», «3 min 05 s», «1 h 02 min»."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
