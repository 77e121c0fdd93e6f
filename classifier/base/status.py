"""Exit statuses, named once; and the exception that carries a stop signal up to the edge."""

import enum
import signal
import threading
from contextlib import contextmanager


class ExitStatus(enum.IntEnum):
    OK = 0
    SOME_FAILED = 1  # an input could not be classified; the others were
    USAGE = 2  # a bad option or input, or a results file that cannot be used
    MODEL_FAILED = 2  # the model cannot be loaded: also a problem of what was asked for
    SETUP = 2  # this Python lacks the program's packages (environment not active, install unfinished)
    OUTPUT_FAILED = 74  # the results could not be written (a full disk, a closed output): sysexits' EX_IOERR
    HANGUP = 129  # 128 + SIGHUP (1): the terminal went away; numbers, as Windows has neither signal
    INTERRUPTED = 128 + signal.SIGINT  # Ctrl+C
    BROKEN_PIPE = 141  # 128 + SIGPIPE (13): the reader closed the pipe (| head)
    TERMINATED = 128 + signal.SIGTERM  # kill, a shutdown


STOP_SIGNALS = {signal.SIGINT: ExitStatus.INTERRUPTED, signal.SIGTERM: ExitStatus.TERMINATED}
if hasattr(signal, "SIGHUP"):  # not on Windows
    STOP_SIGNALS[signal.SIGHUP] = ExitStatus.HANGUP


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGHUP) handled as Ctrl+C is, with its own exit status.

    A KeyboardInterrupt, so every place that already ends cleanly on Ctrl+C ends
    cleanly on these too.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.status = STOP_SIGNALS.get(signum, ExitStatus.INTERRUPTED)


class StopEvent(threading.Event):
    """Set by a stop signal; remembers which, so that the run ends as that signal asks."""

    signum = None

    def stop(self, signum):
        self.signum = signum
        self.set()

    def clear(self):
        self.signum = None
        super().clear()

    def raise_if_set(self):
        if self.is_set():
            raise stop_exception(self.signum or signal.SIGINT)


def stop_exception(signum):
    """What a stop signal raises: KeyboardInterrupt for Ctrl+C, Stopped for the others."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)


@contextmanager
def stop_signal_handler(handler):
    """handler(signum, frame) for every stop signal while inside; the previous handlers put back after.

    Only the main thread may set handlers: elsewhere this does nothing. A signal ignored when
    the program started stays ignored: nohup's SIGHUP (the batch outlives the terminal), a
    background job's Ctrl+C.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS
                if signal.getsignal(signum) != signal.SIG_IGN}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
