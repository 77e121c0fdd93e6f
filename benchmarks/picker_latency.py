"""Launch to file picker on screen: this program against a script that imports first.

    python -m benchmarks.picker_latency [--model CARPETA] [--runs N]

Runs on a virtual screen (Xvfb + xdotool). The reference is what the original
script did: import torch, transformers and matplotlib, load the model, then open
the easygui picker. Without --model, a full-size ViT-B/16 with random weights is
built in a temporary folder (same loading cost as the real model).
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import xdesktop  # noqa: E402

IMPORTS_FIRST = textwrap.dedent("""
    import sys
    import easygui
    import matplotlib.pyplot as plt
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(sys.argv[1], trust_remote_code=False).eval()
    processor = AutoImageProcessor.from_pretrained(sys.argv[1], trust_remote_code=False)
    easygui.fileopenbox(title="Elija una imagen para clasificar", default="*")
""")


def seconds_to_picker(screen, command, title):
    start = time.perf_counter()
    program = subprocess.Popen(command, cwd=REPO, env=screen.env(), stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        screen.find(title, timeout=120, process=program)
        return time.perf_counter() - start
    finally:
        program.kill()
        program.wait()


def measure(model, runs):
    with xdesktop.VirtualScreen() as screen, tempfile.TemporaryDirectory() as scratch:
        reference = Path(scratch) / "imports_first.py"
        reference.write_text(IMPORTS_FIRST)
        commands = {
            "este programa": [sys.executable, "script_modelo.py", "--model", model],
            "script que importa primero": [sys.executable, str(reference), model],
        }
        for command in commands.values():  # warm the file cache once
            seconds_to_picker(screen, command, "^Elija una")
        return {name: [seconds_to_picker(screen, command, "^Elija una") for _ in range(runs)]
                for name, command in commands.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="carpeta del modelo (por defecto: un ViT-B/16 aleatorio temporal)")
    parser.add_argument("--runs", type=int, default=5, help="repeticiones (por defecto: 5)")
    args = parser.parse_args()
    reason = xdesktop.available()
    if reason:
        sys.exit(f"No se puede medir: {reason}")
    from benchmarks.random_vit import given_or_random_vit

    with given_or_random_vit(args.model) as model:
        results = measure(model, args.runs)
    ours, theirs = (statistics.median(v) for v in results.values())
    print(f"Selector de archivos en pantalla (mediana de {args.runs}; Xvfb):")
    for name, values in results.items():
        print(f"  {name:<28} {statistics.median(values):6.2f} s   ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"  razón {ours / theirs:.2f}× (objetivo: menos de 0,7 s)")


if __name__ == "__main__":
    main()
