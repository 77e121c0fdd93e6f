"""The desktop loop without a screen: paths typed at a prompt, results only printed; and the prompt
itself, which ends at once when the model fails to load meanwhile."""

import errno
import os
import signal
import sys
import threading

from classifier.base.errors import OutputFailed


class ModelUnavailable(Exception):
    """The model failed to load; the loader has already said why."""


class TerminalUI:
    """No screen: image and folder paths are typed in the terminal and results only printed."""

    unavailable = ()  # nothing here can fail to open

    def __init__(self, ask, say):
        self.ask = ask

    def pick(self, give_up=None):
        # Terminals quote dragged-in paths; the quotes are not part of the name. No shell reads
        # what is typed here: ~ is expanded as the shell would.
        path = self.ask("Ruta de la imagen o de la carpeta (Intro sin nada para ninguna): ").strip().strip("'\"")
        return [os.path.expanduser(path)] if path else []

    def show(self, results, stream=None):
        return None  # the results are already printed

    def error(self, title, message):
        pass  # the terminal line is already printed


def _print(message):
    try:
        print(message, flush=True)
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:  # a full disk, a closed terminal
        raise OutputFailed("pudo escribir en la terminal", exc) from None


def _input(prompt, give_up=None):
    """input(), looked up at each call (tests replace it); a closed stdin is the end of the answers.

    give_up: a threading.Event (the model failed to load); once set, the prompt ends at once
    with ModelUnavailable, its line ended, whatever the user is typing.
    """
    if sys.stdin is None:
        raise EOFError
    if give_up is not None:
        with _PromptInterrupted(give_up):
            return _plain_input(prompt)
    return _plain_input(prompt)


def _plain_input(prompt):
    try:
        return input(prompt)
    except RuntimeError:  # "input(): lost sys.stdin"
        raise EOFError from None
    except OSError as exc:
        if exc.errno in (errno.EBADF, errno.EIO):  # stdin open for writing only (as nohup leaves it), or gone
            raise EOFError from None
        raise


class _PromptInterrupted:
    """Within: once give_up is set, the main thread's input() raises ModelUnavailable.

    input() waits in a system call that only a signal interrupts: a watcher thread sends
    SIGUSR1 to the main thread, whose handler raises. Where threads cannot be signalled
    (Windows), the prompt waits as before.
    """

    def __init__(self, give_up):
        self.give_up = give_up
        self._waiting = False
        self._lock = threading.Lock()
        self._over = threading.Event()
        self._usable = hasattr(signal, "pthread_kill") and threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.give_up.is_set():
            raise ModelUnavailable
        if not self._usable:
            return self
        self._previous = signal.signal(signal.SIGUSR1, self._raise)
        self._waiting = True
        main = threading.main_thread().ident
        threading.Thread(target=self._watch, args=(main,), name="prompt-watch", daemon=True).start()
        return self

    def _watch(self, main):
        while not self._over.is_set():
            if self.give_up.wait(0.05):
                with self._lock:
                    if self._waiting:
                        signal.pthread_kill(main, signal.SIGUSR1)
                return

    def _raise(self, signum, frame):
        if self._waiting:
            raise ModelUnavailable

    def __exit__(self, kind, value, traceback):
        if self._usable:
            self._over.set()
            with self._lock:  # a signal sent is delivered before this returns: never to the old handler
                self._waiting = False
            signal.signal(signal.SIGUSR1, self._previous)
        if kind is ModelUnavailable:
            _print("")  # the prompt's line ends: the error goes on its own
        return False
