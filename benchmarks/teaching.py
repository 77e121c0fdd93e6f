"""Teaching against classifying, on the same photos: seconds per photo of each, and their ratio.

    python -m benchmarks.teaching --model CARPETA [--por-clase N] [--rondas R]

The photos are scikit-learn's real handwritten digits (load_digits) saved as 64x64 PNGs, N per
digit. Each round runs, in turns, one teaching (--aprender, with an empty representation cache, so
every photo goes through the model) and one batch classification of the same photos (the new
model, -k 1); each is the whole command in this process, model load included. The table gives the
best and the median of the rounds.
"""

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_photos(folder, per_class):
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    paths = []
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
        for row in np.flatnonzero(digits.target == digit)[:per_class]:
            grey = (255 - digits.images[row] * 255 / 16).astype("uint8")
            path = folder / str(digit) / f"{row}.png"
            Image.fromarray(grey).resize((64, 64), Image.Resampling.BICUBIC).convert("RGB").save(path)
            paths.append(str(path))
    return paths


def timed(argv):
    from classifier.app.cli import main

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        status = main(argv)
    if status != 0:
        raise SystemExit(f"{argv[:2]} salió con {status}: {err.getvalue()}")
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="carpeta del modelo base")
    parser.add_argument("--por-clase", type=int, default=20)
    parser.add_argument("--rondas", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-teaching-") as work:
        work = Path(work)
        photos = work / "digitos"
        paths = make_photos(photos, options.por_clase)
        new_model = work / "modelo"
        teaching, classifying = [], []
        for round_ in range(options.rondas):
            os.environ["XDG_CONFIG_HOME"] = str(work / f"config-{round_}")  # an empty cache: every photo read
            teaching.append(timed(["--aprender", str(photos), "--nuevo-modelo", str(new_model),
                                   "--modelo", options.model]))
            classifying.append(timed(["--modelo", str(new_model), "-k", "1", "-f", "json", *paths]))
    count = len(paths)
    print(f"{count} fotos, {options.rondas} rondas alternas (mejor / mediana, s por foto)")
    for name, runs in (("enseñar", teaching), ("clasificar", classifying)):
        print(f"  {name:<11} {min(runs) / count:.4f} / {statistics.median(runs) / count:.4f}")
    print(f"  razón (mejor): {min(teaching) / min(classifying):.2f}")


if __name__ == "__main__":
    main()
