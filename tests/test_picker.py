"""The file picker as a student meets it: type-ahead in its list, Spanish popups, names with spaces, several files.

Real windows under Xvfb and openbox (focus matters here), driven with xdotool; the whole
terminal transcript is read for stray lines.
"""

import shutil

import pytest
from test_desktop import DEVICE_LINE, PICKER, PROMPT, WINDOW, Program, _diagnose, _expected_blocks, _wait_drawn

import xdesktop
from conftest import REPO

pytestmark = pytest.mark.skipif(xdesktop.available("openbox") is not None,
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
