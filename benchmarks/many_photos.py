"""Many photos in one pick, in the real window: time to the first window and peak memory.

    python -m benchmarks.many_photos [--model CARPETA] [--fotos N] [--lado PIXELES]

Runs script_modelo.py on a virtual screen with a window manager (Xvfb + openbox when
installed), types the names of N photos into its picker, and measures, against a pick
of one photo in the same run: the seconds from Enter to the window on screen, and the
process's peak resident memory once every result is printed and a few pages turned.
Without --model, a full-size ViT-B/16 with random weights is built (same compute as
the real model). The photos are one 12-megapixel JPEG linked N times: each is decoded
anew, and the disk holds one.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import xdesktop  # noqa: E402

PAGES_TURNED = 4  # Right presses once all is printed: pages read again from their files


def make_photos(folder, count, size):
    """count names for one JPEG of size (width, height) made from a repository photo."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "original.jpg"
    Image.open(REPO / "images" / "gato.png").convert("RGB").resize(size).save(source, quality=90)
    paths = []
    for index in range(count):
        path = folder / f"f{index:03d}.jpg"
        os.link(source, path)
        paths.append(path)
    return paths


def _peak_mib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def one_pick(model, paths, window_manager, config):
    """(seconds from Enter to the window, peak MiB) of one pick of paths."""
    folder = paths[0].parent
    (config / "clasificador-vit").mkdir(parents=True, exist_ok=True)
    (config / "clasificador-vit" / "estado.json").write_text(f'{{"carpeta": "{folder}"}}', encoding="utf-8")
    with xdesktop.VirtualScreen(1366, 768, window_manager) as screen:
        env = screen.env({**os.environ, "XDG_CONFIG_HOME": str(config)})
        program = subprocess.Popen([sys.executable, "script_modelo.py", "--modelo", str(model)], cwd=REPO, env=env,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True)
        out = []
        reader = threading.Thread(target=lambda: out.extend(iter(program.stdout.readline, "")), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 300 + 10 * len(paths)
            picker = screen.find("^Elija una", process=program)
            while not any("núcleos" in line for line in out):  # the model is ready: only the pick is timed
                if time.monotonic() > deadline or program.poll() is not None:
                    raise RuntimeError("the model never loaded")
                time.sleep(0.05)
            screen.type_and_enter(picker, " ".join(f'"{path.name}"' for path in paths))
            start = time.perf_counter()
            window = screen.find("^Clasificador de im", timeout=600, process=program)
            first = time.perf_counter() - start
            while sum(line.startswith(str(folder)) for line in out) < len(paths):
                if time.monotonic() > deadline or program.poll() is not None:
                    raise RuntimeError("not every photo was printed")
                time.sleep(0.1)
            for _ in range(PAGES_TURNED if len(paths) > 1 else 0):
                screen.key(window, "Right")
                time.sleep(0.3)
            screen.settled(window)
            peak = _peak_mib(program.pid)
            screen.key(window, "Escape")
            program.wait(60)
            return first, peak
        finally:
            if program.poll() is None:
                program.kill()


def measure(model, count, size, window_manager=None, scratch=None):
    """{"una": (first, peak), "varias": (first, peak)} for one photo and for count photos."""
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        folder = Path(folder)
        paths = make_photos(folder / "fotos", count, size)
        return {"una": one_pick(model, paths[:1], window_manager, folder / "config1"),
                "varias": one_pick(model, paths, window_manager, folder / "config2")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="carpeta del modelo (por defecto: un ViT-B/16 aleatorio temporal)")
    parser.add_argument("--fotos", type=int, default=150, help="fotos de la selección (por defecto: 150)")
    parser.add_argument("--lado", type=int, default=4000, help="ancho de cada foto, 4:3 (por defecto: 4000)")
    args = parser.parse_args()
    window_manager = "openbox" if xdesktop.available("openbox") is None else None
    reason = xdesktop.available(window_manager)
    if reason:
        sys.exit(f"No se puede medir: {reason}")
    from benchmarks.random_vit import given_or_random_vit

    size = (args.lado, args.lado * 3 // 4)
    with given_or_random_vit(args.model) as model:
        figures = measure(model, args.fotos, size, window_manager)
    (one_first, one_peak), (many_first, many_peak) = figures["una"], figures["varias"]
    print(f"Una selección de {args.fotos} fotos de {size[0]} × {size[1]} frente a una sola (Xvfb"
          f"{' + openbox' if window_manager else ''}):")
    print(f"  primera ventana tras Intro   1 foto: {one_first:6.2f} s   {args.fotos} fotos: {many_first:6.2f} s")
    print(f"  memoria máxima (VmHWM)       1 foto: {one_peak:6.0f} MiB {args.fotos} fotos: {many_peak:6.0f} MiB"
          f"   (+{many_peak - one_peak:.0f} MiB; objetivo: menos de +100 MiB)")


if __name__ == "__main__":
    main()
