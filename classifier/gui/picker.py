"""The file picker: easygui's open dialog with Spanish texts and image masks, watched so that Ctrl+C and the model
loader can end it (Tk's own dialog is prepared in tk_dialogs.py)."""

import gc
import os

from classifier.base.defaults import EXPLAINED_EXTENSIONS, IMAGE_EXTENSIONS
from classifier.base.status import StopEvent
from classifier.gui.timers import POLL_MS, DisplayUnavailable, Timers, end_wait, release, stop_signals_set
from classifier.gui.tk_dialogs import keep_dialog_keys, prepare_file_dialog, prepare_folder_dialog, spanish

PICKER_TITLE = "Elija una o varias imágenes para clasificar"
FOLDER_TITLE = "Elija la carpeta de las clases"  # short: the dialog is narrow, a long title is cut


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




def _stop_dialog(root):
    end_wait(root, "selectFilePath")


def pick_folder(folder):
    """Tk's folder dialog in Spanish, opened on folder; the chosen folder, or None when cancelled.

    Ctrl+C closes it and raises KeyboardInterrupt; DisplayUnavailable when no window can open."""
    import tkinter
    from tkinter import filedialog

    try:
        root = tkinter.Tk(className="clasificador")
    except tkinter.TclError as exc:
        raise DisplayUnavailable(str(exc)) from exc
    timers = Timers(root)
    interrupted = StopEvent()
    try:
        root.withdraw()
        spanish(root)
        prepare_folder_dialog(root)
        keep_dialog_keys(root, timers, POLL_MS, ".__tk_choosedir")
        timers.stop_when([interrupted], lambda: _stop_dialog(root))
        with stop_signals_set(interrupted):
            chosen = filedialog.askdirectory(parent=root, title=FOLDER_TITLE, initialdir=folder, mustexist=True)
    except tkinter.TclError as exc:
        if not interrupted.is_set():
            raise DisplayUnavailable(str(exc)) from exc
        chosen = None
    finally:
        release(root, timers)
    interrupted.raise_if_set()
    return chosen or None
