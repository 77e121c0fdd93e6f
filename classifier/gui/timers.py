"""Tk's timers and the stop signals: every after() callback and signal handler a window sets, released by the
code that set it before the window goes (a timer left behind fires inside the next dialog, where Tcl prints
"invalid command name"). Also whether Tk can open a window at all, and matplotlib's window side imported early.
"""

import gc
from contextlib import contextmanager

from classifier.base.status import stop_signal_handler

POLL_MS = 100  # how often Tk lets Python look at Ctrl+C and at the model loader


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


def release(root, timers):
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

def end_wait(root, variable):
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
