"""End to end in real windows: Xvfb, the real script, xdotool at the keyboard."""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import xdesktop
from conftest import LINE, PHOTOS, REPO, reliability

pytestmark = pytest.mark.skipif(xdesktop.available() is not None, reason=str(xdesktop.available()))

PICKER = "^Elija una imagen"
WINDOW = "^Clasificador de im"
BAR_ORANGE = np.array([255, 127, 14])  # matplotlib "tab:orange", the first bar


def _orange_pixels(image):
    return int((np.abs(np.asarray(image.convert("RGB")).astype(int) - BAR_ORANGE).sum(axis=2) < 30).sum())


def _wait_drawn(screen, window, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _orange_pixels(screen.screenshot(window)) > 300:
            # As a person would: look at the finished window before reaching for its x.
            return screen.settled(window, pause=0.3)
        time.sleep(0.1)
    raise TimeoutError("the window stayed blank")


def _pick_and_see(screen, program, path):
    picker = screen.find(PICKER, process=program)
    screen.type_and_enter(picker, str(path))
    window = screen.find(WINDOW, process=program)
    shot = _wait_drawn(screen, window)
    return window, shot


def _launch(screen, model):
    """The real script on the virtual screen, its terminal on pipes."""
    return subprocess.Popen(
        [sys.executable, "script_modelo.py", "--model", str(model)],
        cwd=REPO, env=screen.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, encoding="utf-8",
    )


def test_pick_see_close_and_answer_in_real_windows(tiny_model_dir, tmp_path):
    panorama = tmp_path / "panorama.png"
    Image.open(PHOTOS[0]).convert("RGB").resize((5000, 10)).save(panorama)
    with xdesktop.VirtualScreen(1280, 1024) as screen:
        program = _launch(screen, tiny_model_dir)
        try:
            window, _ = _pick_and_see(screen, program, panorama)
            x, y, width, height = screen.geometry(window)
            assert x + width <= 1280 and y + height <= 1024, "a panorama pushed the window off the screen"
            screen.close(window)
            screen.wait_gone(window)
            program.stdin.write("s\n")
            program.stdin.flush()

            window, shot = _pick_and_see(screen, program, PHOTOS[0])
            shot.save(tmp_path / "window.png")
            pixels = np.asarray(shot.convert("L"), dtype=float)
            assert pixels.std() > 30, "the window is blank"
            screen.close(window)
            screen.wait_gone(window)
            out, err = program.communicate("n\n", timeout=60)
        except (TimeoutError, RuntimeError, AssertionError) as failure:
            program.kill()
            out, err = program.communicate()
            ids = screen.xdotool("search", "--onlyvisible", "--name", "").split()
            names = {i: screen.xdotool("getwindowname", i) for i in ids}
            raise AssertionError(f"{failure}\n{names}\n--- stdout ---\n{out}\n--- stderr ---\n{err}") from failure
    assert program.returncode == 0, err
    assert "Traceback" not in err
    # Piped answers are not echoed, so what follows a prompt starts on its line.
    lines = out.replace("(s/n) ", "(s/n)\n").splitlines()
    for path in (panorama, PHOTOS[0]):
        start = lines.index(str(path))
        assert all(LINE.match(line) for line in lines[start + 1:start + 8]), lines[start:start + 8]
    assert out.count("¿Clasificar otra imagen? (s/n)") == 2
    assert out.rstrip().endswith("¡Hasta luego!")


@pytest.mark.parametrize("where", ["picker", "window"])
def test_ctrl_c_with_a_window_open_ends_cleanly(tiny_model_dir, where):
    with xdesktop.VirtualScreen(1280, 1024) as screen:
        program = _launch(screen, tiny_model_dir)
        try:
            picker = screen.find(PICKER, process=program)
            if where == "window":
                screen.type_and_enter(picker, str(PHOTOS[0]))
                _wait_drawn(screen, screen.find(WINDOW, process=program))
            else:
                screen.settled(picker)
            # Tk waits inside Tcl, where Python cannot raise: the program must still notice.
            program.send_signal(signal.SIGINT)
            out, err = program.communicate(timeout=30)
        finally:
            if program.poll() is None:
                program.kill()
    assert program.returncode == 0, err
    assert out.rstrip().endswith("¡Hasta luego!") and "Traceback" not in err
    opened = {"picker": "el selector abierto", "window": "la ventana abierta"}[where]
    reliability.setdefault("interrupciones", set()).add(f"Ctrl+C con {opened}")
