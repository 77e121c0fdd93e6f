"""The file picker as a student meets it: type-ahead in its list, Spanish popups, names with spaces, several files.

Real windows under Xvfb and openbox (focus matters here), driven with xdotool; the whole
terminal transcript is read for stray lines.
"""

import re
import shutil
from pathlib import Path

import pytest
from test_desktop import DEVICE_LINE, MESSAGE, PICKER, PROMPT, WINDOW, Program, _diagnose, _expected_blocks, _wait_drawn

import xdesktop
from conftest import REPO

needs_screen = pytest.mark.skipif(xdesktop.available() is not None, reason=str(xdesktop.available()))
needs_openbox = pytest.mark.skipif(xdesktop.available("openbox") is not None,
                                   reason=str(xdesktop.available("openbox")))


def _photos_folder(tmp_path, names=("gato.png", "cafe.png", "cohete.jpg")):
    """A folder of photos, remembered as the last one used: the picker opens there."""
    folder = tmp_path / "fotos"
    folder.mkdir()
    for name in names:
        shutil.copy(REPO / "images" / name, folder / name)
    config = tmp_path / "config"
    (config / "clasificador-vit").mkdir(parents=True)
    (config / "clasificador-vit" / "estado.json").write_text(f'{{"carpeta": "{folder}"}}', encoding="utf-8")
    return folder, config


def _into_the_list(screen, picker, how):
    """Put the keyboard in the picker's file list: a click in it, or Shift+Tab from the name field."""
    if how == "clic":
        x, y, width, height = screen.geometry(picker)
        screen.focus(picker)
        screen.xdotool("mousemove", str(x + int(width * 0.75)), str(y + int(height * 0.4)), "click", "1")
    else:
        screen.key(picker, "shift+Tab")


@needs_openbox
@pytest.mark.parametrize(("when", "how"), [("cargando", "clic"), ("cargado", "clic"), ("cargado", "teclado")])
def test_type_ahead_in_the_file_list_then_enter_opens_the_photo(tiny_model_dir, tmp_path, when, how):
    # Tk's list resets its typed prefix 500 ms after the last key, on a Tcl timer of its own. Enter
    # within that time used to cancel Tk's timer with ours: a TypeError, exit 1; while the model
    # loaded, «terminate called without an active exception» and exit 134.
    folder, config = _photos_folder(tmp_path)
    [block] = _expected_blocks(tiny_model_dir, [folder / "gato.png"])
    with xdesktop.VirtualScreen(1024, 600, "openbox") as screen:
        program = Program(screen, tiny_model_dir, config)
        try:
            picker = screen.find(PICKER, process=program.process)
            if when == "cargado":
                program.wait_for(DEVICE_LINE)
            screen.settled(picker)
            _into_the_list(screen, picker, how)
            screen.xdotool("key", "--delay", "40", "g", "a", "Return")  # well within half a second
            if when == "cargando":
                assert DEVICE_LINE not in program.stdout, "the model loaded before the keys: nothing was tested"
            window = screen.find(WINDOW, process=program.process)
            _wait_drawn(screen, window)
            screen.key(window, "Escape")
            out, err = program.finish()
        except (TimeoutError, RuntimeError, AssertionError) as failure:
            raise _diagnose(screen, program, failure) from failure
    assert program.process.returncode == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[lines.index(DEVICE_LINE) + 1:] == [*block, PROMPT + "n", "¡Hasta luego!"]
    assert lines[:lines.index(DEVICE_LINE)] == (["Cargando el modelo…"] if when == "cargando" else [])


def _tcl_word(text, at):
    """The Tcl word starting at text[at], as Tcl reads it (quoted or braced), or None for any other word."""
    if text[at] == "{":
        return text[at + 1:text.index("}", at)]
    if text[at] != '"':
        return None  # a variable or a command: no message of its own
    word, at = [], at + 1
    escapes = {"n": "\n", "t": "\t"}
    while text[at] != '"':
        if text[at] == "\\":
            following = text[at + 1]
            if following == "\n":  # a continued line: one space instead of the break and the indent
                at += 2
                while text[at] in " \t":
                    at += 1
                word.append(" ")
                continue
            word.append(escapes.get(following, following))
            at += 2
            continue
        word.append(text[at])
        at += 1
    return "".join(word)


def _tk_dialog_messages(library):
    """Every text Tk's file dialog (tkfbox.tcl) asks its catalogue for, and the buttons of its popups (msgbox.tcl)."""
    source = (Path(library) / "tkfbox.tcl").read_text(encoding="utf-8")
    messages = {_tcl_word(source, match.end()) for match in re.finditer(r"\[mc\s+(?:\\\n\s*)?", source)}
    boxes = (Path(library) / "msgbox.tcl").read_text(encoding="utf-8")
    for labels in re.findall(r"set labels \[list ([^\]]*)\]", boxes):
        messages.update(labels.split())
    messages.discard(None)
    return messages


@needs_screen
def test_every_text_of_tks_file_dialog_and_its_popups_is_spanish():
    import tkinter

    from classifier.gui.tk_dialogs import spanish

    same_in_spanish = {"&No"}
    with xdesktop.VirtualScreen(640, 480) as screen:
        root = tkinter.Tk(screenName=screen.display)
        try:
            spanish(root)
            messages = _tk_dialog_messages(root.tk.eval("set ::tk_library"))
            shown = {text: root.tk.eval(f"namespace eval ::tk {{::msgcat::mc {{{text}}}}}") for text in messages}
        finally:
            root.destroy()
    # What the check reads is what Tk shows: the popup of a name that does not exist, among others.
    assert 'File "%1$s"  does not exist.' in shown and "&Yes" in shown and len(shown) > 20, sorted(shown)
    english = {text for text, spanish_text in shown.items() if spanish_text == text and text not in same_in_spanish}
    assert not english
    assert shown['File "%1$s"  does not exist.'] == "El archivo «%1$s» no existe."


@needs_openbox
def test_a_typed_path_with_spaces_opens_the_photo_it_names(tiny_model_dir, tmp_path):
    # Tk read the name field of its multiple-file dialog as a Tcl list: «…/Mis fotos/gato.png» was
    # two names, each with its own English popup («File "…/Mis.jpg"  does not exist.»).
    folder, config = _photos_folder(tmp_path)
    spaced = tmp_path / "Mis fotos"
    spaced.mkdir()
    shutil.copy(folder / "gato.png", spaced / "mi gato.png")
    [block] = _expected_blocks(tiny_model_dir, [spaced / "mi gato.png"])
    with xdesktop.VirtualScreen(1024, 600, "openbox") as screen:
        program = Program(screen, tiny_model_dir, config)
        try:
            program.wait_for(DEVICE_LINE)
            screen.type_and_enter(screen.find(PICKER, process=program.process), str(spaced / "mi gato.png"))
            window = screen.find(WINDOW, process=program.process, timeout=30)
            _wait_drawn(screen, window)
            screen.key(window, "Escape")
            out, err = program.finish()
        except (TimeoutError, RuntimeError, AssertionError) as failure:
            raise _diagnose(screen, program, failure) from failure
    assert program.process.returncode == 0 and err == ""
    assert out.splitlines() == [DEVICE_LINE, *block, PROMPT + "n", "¡Hasta luego!"]


@needs_openbox
@pytest.mark.parametrize(("keys", "chosen"), [(["c", "a", "shift+Down"], ["cafe.png", "cohete.jpg"]),
                                              (["ctrl+a"], ["cafe.png", "cohete.jpg", "gato.png"]),
                                              (["c", "o"], ["cohete.jpg"]), (["g"], ["gato.png"]),
                                              # Shift's own press searched «ca» again: cafe and cohete.
                                              (["c", "a", "Down", "shift+Down"], ["cohete.jpg", "gato.png"])])
def test_photos_are_chosen_with_the_keyboard_in_the_file_list(tiny_model_dir, tmp_path, keys, chosen):
    # Tk's list chose several files with Ctrl and Shift clicks only: Shift+arrows and Ctrl+A did nothing.
    # Its type-ahead compared one letter fewer than typed: «co» went to cafe.png, «g» to the first file.
    folder, config = _photos_folder(tmp_path)
    blocks = _expected_blocks(tiny_model_dir, [folder / name for name in chosen])
    with xdesktop.VirtualScreen(1024, 600, "openbox") as screen:
        program = Program(screen, tiny_model_dir, config)
        try:
            program.wait_for(DEVICE_LINE)
            picker = screen.find(PICKER, process=program.process)
            screen.settled(picker)
            _into_the_list(screen, picker, "teclado")
            screen.xdotool("key", "--delay", "40", *keys, "Return")
            window = screen.find(WINDOW, process=program.process, timeout=30)
            program.wait_for(chosen[-1])
            _wait_drawn(screen, window)
            screen.key(window, "Escape")
            out, err = program.finish()
        except (TimeoutError, RuntimeError, AssertionError) as failure:
            raise _diagnose(screen, program, failure) from failure
    assert program.process.returncode == 0 and err == ""
    assert out.splitlines() == [DEVICE_LINE, *[line for block in blocks for line in block], PROMPT + "n",
                                "¡Hasta luego!"]


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)  # an iPhone photo's first box


def test_the_pickers_image_filter_lists_what_the_program_explains():
    from classifier.base.defaults import IMAGE_EXTENSIONS
    from classifier.gui.picker import picker_filetypes

    images, everything = picker_filetypes()
    assert images[-1] == "Imágenes" and everything == ["*", "Todos los archivos"]
    for extension in (*IMAGE_EXTENSIONS, ".heic", ".heif", ".pdf", ".svg"):
        assert f"*{extension}" in images and f"*{extension.upper()}" in images


@needs_openbox
def test_an_iphone_photo_is_listed_and_its_sentence_reached(tiny_model_dir, tmp_path):
    # The default filter hid HEIC files: a student never met the sentence about iPhone photos.
    folder, config = _photos_folder(tmp_path, names=("gato.png",))
    (folder / "IMG_0001.HEIC").write_bytes(HEIC)
    with xdesktop.VirtualScreen(1024, 600, "openbox") as screen:
        program = Program(screen, tiny_model_dir, config)
        try:
            program.wait_for(DEVICE_LINE)
            picker = screen.find(PICKER, process=program.process)
            screen.settled(picker)
            _into_the_list(screen, picker, "teclado")
            screen.xdotool("key", "--delay", "40", "i", "m", "Return")  # the list's type-ahead: only what it shows
            message = screen.find(MESSAGE, process=program.process, timeout=30)
            screen.settled(message)
            screen.key(message, "Return")
            screen.wait_gone(message)
            program.wait_for(PROMPT)
            program.answer("n")
            out, err = program.finish()
        except (TimeoutError, RuntimeError, AssertionError) as failure:
            raise _diagnose(screen, program, failure) from failure
    assert program.process.returncode == 0 and err == ""
    [device, error, last] = out.splitlines()
    assert device == DEVICE_LINE and last == PROMPT + "¡Hasta luego!"
    assert error.startswith(f"Error: No se puede clasificar «{folder / 'IMG_0001.HEIC'}»: es una foto HEIC/HEIF")
