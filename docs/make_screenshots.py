"""Screenshots and a terminal transcript of the real program for the README.

    python docs/make_screenshots.py

Builds the ImageNet-trained EfficientNet-Lite0 the tests use (tests/trained_model.py:
real predictions over the same 1000 classes as the default model, whose weights cannot
be downloaded here), runs script_modelo.py on a virtual screen (Xvfb) and drives it
with xdotool as a person would, with a window manager (openbox: title bars) where one
is installed, on a small screen (1024 x 600): the picker (docs/selector.png), one photo
(docs/ventana.png), several photos with a broken file (docs/error.png, docs/varias.png);
and one photo on a large screen (docs/ventana_grande.png, 1920 x 1080). The terminal runs
in a pseudo-terminal, so docs/terminal.txt holds exactly what a terminal shows. docs/mapa.png
is the PNG that `--mapa` writes for images/gato.png with the same model: its Grad-CAM map.
"""

import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import xdesktop  # noqa: E402

WINDOW_MANAGER = "openbox" if xdesktop.available("openbox") is None else None  # title bars, as users see


def _read_until(fd, text, transcript, timeout=120):
    deadline = time.monotonic() + timeout
    while text not in transcript.decode("utf-8", "replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} never appeared in {transcript.decode('utf-8', 'replace')!r}")
        if select.select([fd], [], [], 0.1)[0]:
            transcript.extend(os.read(fd, 4096))
    return transcript


def session(model, folder, config):
    """Two rounds: one photo closed with the x and answered s; three files, pages, Esc."""
    main_fd, terminal_fd = pty.openpty()
    transcript = bytearray(b"$ python script_modelo.py --modelo CARPETA_DEL_MODELO\r\n")
    env = {"XDG_CONFIG_HOME": str(config)}
    with xdesktop.VirtualScreen(1024, 600, WINDOW_MANAGER) as screen:
        program = subprocess.Popen([sys.executable, "script_modelo.py", "--modelo", str(model)], cwd=REPO,
                                   env=screen.env({**os.environ, **env}), stdin=terminal_fd, stdout=terminal_fd,
                                   stderr=terminal_fd, close_fds=True)
        os.close(terminal_fd)
        try:
            _read_until(main_fd, "núcleos", transcript)
            picker = screen.find("^Elija una", process=program)
            screen.settled(picker, pause=0.5)
            screen.screenshot(picker, frame=True).save(DOCS / "selector.png")
            screen.type_and_enter(picker, "gato.png")
            window = screen.find("^Clasificador de im", process=program)
            time.sleep(1.0)
            screen.settled(window, pause=0.5)
            screen.screenshot(window, frame=True).save(DOCS / "ventana.png")
            screen.close(window)
            _read_until(main_fd, "(s/n)", transcript)
            os.write(main_fd, b"s\n")
            picker = screen.find("^Elija una", process=program)
            screen.type_and_enter(picker, '"cafe.png" "cohete.jpg" "roto.jpg"')
            window = screen.find("^Clasificador de im", process=program)
            message = screen.find("^No se pudo clasificar", process=program)  # over the window
            time.sleep(0.5)
            screen.settled(message, pause=0.5)
            screen.screenshot().save(DOCS / "error.png")
            screen.key(message, "Return")
            screen.wait_gone(message)
            time.sleep(0.5)
            screen.key(window, "Right")
            time.sleep(1.0)
            screen.settled(window, pause=0.5)
            screen.screenshot(window, frame=True).save(DOCS / "varias.png")
            screen.key(window, "Escape")
            _read_until(main_fd, "Hasta luego!\r\n", transcript)
            program.wait(30)
        finally:
            if program.poll() is None:
                program.kill()
            os.close(main_fd)
    text = transcript.decode("utf-8").replace("\r\n", "\n").replace(str(folder) + "/", "")
    (DOCS / "terminal.txt").write_text(text, encoding="utf-8")
    return text


def large_window(model, folder, config):
    """One photo on a large screen (1920 x 1080)."""
    (config / "clasificador-vit" / "estado.json").write_text(f'{{"carpeta": "{folder}"}}', encoding="utf-8")
    with xdesktop.VirtualScreen(1920, 1080, WINDOW_MANAGER) as screen:
        program = subprocess.Popen([sys.executable, "script_modelo.py", "--modelo", str(model)], cwd=REPO,
                                   env=screen.env({**os.environ, "XDG_CONFIG_HOME": str(config)}),
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            screen.type_and_enter(screen.find("^Elija una", process=program), "gato.png")
            window = screen.find("^Clasificador de im", process=program, timeout=600)
            time.sleep(1.0)
            screen.settled(window, pause=0.5)
            screen.screenshot(window, frame=True).save(DOCS / "ventana_grande.png")
            screen.close(window)
            program.communicate(b"n\n", timeout=60)
        finally:
            if program.poll() is None:
                program.kill()


def map_file(model, scratch):
    """docs/mapa.png: what --mapa writes for images/gato.png; and the command's terminal output."""
    maps = scratch / "mapas"
    command = [sys.executable, "script_modelo.py", "--modelo", str(model), "images/gato.png", "--mapa", str(maps),
               "-k", "3"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=True)
    shutil.copy(maps / "gato_mapa.png", DOCS / "mapa.png")
    return done.stdout


def _own_fixed_folder(path):
    """path made afresh; refused when it is someone else's or a link (/tmp is shared)."""
    if path.is_symlink() or (path.exists() and path.stat().st_uid != os.getuid()):
        sys.exit(f"No se pueden hacer las capturas: {path} ya existe y no es de este usuario.")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    return path


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    reason = xdesktop.available()
    if reason:
        sys.exit(f"No se pueden hacer las capturas: {reason}")
    from trained_model import build_trained_model

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        model = build_trained_model(scratch / "efficientnet-lite0")
        # A fixed, readable folder rather than the temporary one: its name shows in the error box.
        folder = _own_fixed_folder(Path(tempfile.gettempdir()) / "ana") / "Imágenes"
        folder.mkdir()
        for name in ("gato.png", "cafe.png", "cohete.jpg"):
            shutil.copy(REPO / "images" / name, folder / name)
        (folder / "roto.jpg").write_bytes(b"\xff\xd8\xff\xe0 esto no es una foto")
        config = scratch / "config"
        (config / "clasificador-vit").mkdir(parents=True)
        (config / "clasificador-vit" / "estado.json").write_text(f'{{"carpeta": "{folder}"}}', encoding="utf-8")
        print(session(model, folder, config))
        large_window(model, folder, config)
        print(map_file(model, scratch))
        shutil.rmtree(folder.parent, ignore_errors=True)
    print(f"Capturas en {DOCS}: selector.png, ventana.png, ventana_grande.png, error.png, varias.png, mapa.png, "
          "terminal.txt")


if __name__ == "__main__":
    main()
