"""Screenshots and a terminal transcript of the real program for the README.

    python docs/make_screenshots.py [--model CARPETA]

Runs script_modelo.py on a virtual screen (Xvfb), picks images/gato.png in the
easygui picker with xdotool, photographs the picker and the result window, closes
the window and answers "n" in a pseudo-terminal, so the transcript holds exactly
what a terminal would show; then runs the batch command with --mapa on the same
photo. Without --model, a full-size ViT-B/16 with random weights is built: the
predictions and the map in the pictures are then meaningless.
"""

import argparse
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import xdesktop  # noqa: E402


def _read_until(fd, text, transcript, timeout=120):
    deadline = time.monotonic() + timeout
    while text not in transcript.decode("utf-8", "replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{text!r} never appeared")
        if select.select([fd], [], [], 0.1)[0]:
            transcript.extend(os.read(fd, 4096))
    return transcript


def capture(model, image, extra_args=(), window_name="window"):
    main_fd, terminal_fd = pty.openpty()
    transcript = bytearray()
    command = [sys.executable, "script_modelo.py", "--model", model, *extra_args]
    shown = " ".join(["python", "script_modelo.py", "--model", "CARPETA_DEL_MODELO", *extra_args])
    transcript.extend(f"$ {shown}\r\n".encode())
    with xdesktop.VirtualScreen(1280, 800) as screen:
        program = subprocess.Popen(command, cwd=REPO, env=screen.env(), stdin=terminal_fd, stdout=terminal_fd,
                                   stderr=terminal_fd, close_fds=True)
        os.close(terminal_fd)
        try:
            picker = screen.find("^Elija una imagen", process=program)
            time.sleep(0.5)
            screen.screenshot(picker).save(DOCS / "selector.png")
            screen.type_and_enter(picker, image)
            window = screen.find("^Clasificador de im", process=program)
            screen.settled(window, pause=0.5).save(DOCS / f"{window_name}.png")
            screen.close(window)
            _read_until(main_fd, "(s/n)", transcript)
            os.write(main_fd, b"n\n")
            _read_until(main_fd, "Hasta luego", transcript)
            program.wait(30)
        finally:
            if program.poll() is None:
                program.kill()
            os.close(main_fd)
    text = transcript.decode("utf-8").replace("\r\n", "\n")
    (DOCS / "terminal.txt").write_text(text, encoding="utf-8")
    return text


def example_map(model, image):
    """The batch command with --mapa on one photo: its output, and docs/<photo>_mapa.png."""
    command = ["script_modelo.py", "--model", model, "--mapa", "docs", image]
    done = subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True, text=True, check=True)
    shown = " ".join(["python", *command]).replace(model, "CARPETA_DEL_MODELO")
    text = f"$ {shown}\n{done.stdout}"
    (DOCS / "mapa.txt").write_text(text, encoding="utf-8")
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="carpeta del modelo (por defecto: ViT-B/16 aleatorio temporal)")
    args = parser.parse_args()
    reason = xdesktop.available()
    if reason:
        sys.exit(f"No se pueden hacer las capturas: {reason}")
    from benchmarks.random_vit import given_or_random_vit

    with given_or_random_vit(args.model) as model:
        print(capture(model, "images/gato.png"))
        print(example_map(model, "images/gato.png"))
    print(f"Capturas en {DOCS}: selector.png, window.png, terminal.txt, gato_mapa.png, mapa.txt")


if __name__ == "__main__":
    main()
