"""How a model download is shown in text: one line redrawn in place on a terminal, or a
plain line every 10 % in a log. Always on stderr: a JSON or CSV on stdout stays clean.
(The desktop's window is gui/download_window.py.)
"""

import os
import shutil
import time

from classifier.hub.download_progress import DownloadProgress, duration, megabytes, speed_text
from classifier.hub.words import connecting_text

REDRAW_S = 0.25  # a terminal line redrawn four times a second: readable, and cheap over SSH
STEP = 0.1  # a plain line every 10 %
BAR_WIDTH = 24


def text_progress(stream):
    """The download progress for this stream: a redrawn line on a terminal, else plain lines."""
    try:
        terminal = stream is not None and stream.isatty()
    except (OSError, ValueError):
        terminal = False
    return TerminalLine(stream) if terminal else PlainLines(stream)


class _Text(DownloadProgress):
    def __init__(self, stream):
        self.stream = stream

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # stderr closed or full: the download goes on all the same

    def announce(self, sentence):
        self._write(sentence + "\n")

    def end(self, state, completed):
        if completed:
            speed = f", {speed_text(state.done / state.elapsed)}" if state.elapsed > 0 else ""
            self._write(f"Descarga completa: {megabytes(state.done)} MB en {duration(state.elapsed)}{speed}.\n")


class PlainLines(_Text):
    """«Descargando: 30 % (103,8 de 346,0 MB, 9,8 MB/s, quedan 24 s)», at each new tenth."""

    def __init__(self, stream):
        super().__init__(stream)
        self.shown = None

    def advance(self, state):
        if not state.total:
            return
        step = int(state.fraction / STEP + 1e-9)
        if self.shown is None:
            self.shown = step  # a resumed download starts where it was: no line for the steps already done
            return
        if step > self.shown and step < round(1 / STEP):
            self.shown = step
            self._write(f"Descargando: {step * 10} % ({state.amounts()}, {state.rate()}, {state.time_left()})\n")


class TerminalLine(_Text):
    """One line, redrawn with a carriage return, as pip or ollama pull draw theirs."""

    def __init__(self, stream):
        super().__init__(stream)
        self.drawn = 0  # characters of the line on screen
        self.last = 0.0
        self.bar = _bar_characters(stream)

    def advance(self, state):
        now = time.monotonic()
        if now - self.last < REDRAW_S:
            return
        self.last = now
        width = _columns(self.stream) - 1
        if state.connecting:
            self._draw((state.waiting or connecting_text())[:width])
        else:
            self._draw(line(state, self.bar, width))

    def announce(self, sentence):
        self._erase()
        super().announce(sentence)

    def _draw(self, text):
        # Spaces over what the previous line had beyond this one: no escape sequences, for any terminal.
        self._write("\r" + text.ljust(self.drawn))
        self.drawn = max(self.drawn, len(text))

    def end(self, state, completed):
        self._erase()
        super().end(state, completed)

    def _erase(self):
        if self.drawn:
            self._write("\r" + " " * self.drawn + "\r")
            self.drawn = 0


def line(state, bar=("#", "-"), width=79):
    """«  45 % ━━━━━━━━━━╸━━━━━━━━━━  156,2 de 346,0 MB  10,4 MB/s  quedan 18 s», cut to width."""
    percent = f"{round(state.fraction * 100):3d} %"
    details = f"{state.amounts()}  {state.waiting or f'{state.rate()}  {state.time_left()}'}"
    room = width - len(percent) - len(details) - 4
    if room >= 10:
        cells = min(BAR_WIDTH, room)
        full = round(state.fraction * cells)
        return f"{percent} {bar[0] * full}{bar[1] * (cells - full)}  {details}"
    return f"{percent}  {details}"[:max(width, 1)]


def _columns(stream):
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        columns = 0
    return columns if columns >= 20 else shutil.get_terminal_size((80, 24)).columns  # 0: a terminal that never said


def _bar_characters(stream):
    """Box-drawing characters where the terminal's encoding has them (a Windows code page may not)."""
    try:
        "━─".encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "#", "-"
    return "━", "─"
