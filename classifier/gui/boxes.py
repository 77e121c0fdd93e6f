"""Message boxes: an error told in a Tk box of our own, Spanish keys, in front, closed by Intro, Espacio or Esc."""

from classifier.base.status import StopEvent
from classifier.gui.timers import POLL_MS, DisplayUnavailable, Timers, end_wait, release, stop_signals_set
from classifier.gui.tk_dialogs import spanish


def show_error(title, message, kind="error"):
    """A Spanish message box in front of everything; returns when the user closes it.

    kind: "error", or "info" for a report that is no failure (the teaching's summary)."""
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
            _message_box(root, timers, title, message, kind)
    except tkinter.TclError:
        if not interrupted.is_set():
            raise
    finally:
        release(root, timers)
    interrupted.raise_if_set()


def _message_box(parent, timers, title, message, kind="error"):
    """Tk's error box over parent, in front, its «Aceptar» button answering Intro, Space and Escape."""
    from tkinter import messagebox

    timers.once(POLL_MS, lambda: message_to_front(parent), "front")
    (messagebox.showinfo if kind == "info" else messagebox.showerror)(title, message, parent=parent)


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


def message_to_front(root):
    # Tk's message box is a Tcl widget Python does not wrap (elsewhere, the system's own box). The
    # keyboard goes to the button the box chose («Aceptar»), not to its frame, where Intro and Space
    # would do nothing.
    try:
        root.tk.eval(_MESSAGE_KEYS)
    except Exception:  # noqa: BLE001 - cosmetic
        pass


def _close_message(root):
    end_wait(root, "button")
