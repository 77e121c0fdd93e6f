"""Launch to file picker on screen: this program against a script that imports first.

    python -m benchmarks.picker_latency [--model CARPETA] [--runs N]

Runs on a virtual screen (Xvfb + xdotool) with a window manager (openbox), as users
have it. Two ways this program starts are timed: with --modelo CARPETA, and with the
default model already in the hub's cache (a private HF_HOME filled once from the
stand-in hub in tests/fakehub.py, serving the same folder as google/vit-base-patch16-224).
The reference is what the original script did: import torch, transformers and
matplotlib, load the model, then open the easygui picker. The three are run in turns
(interleaved), after one warm-up each. Without --model, a full-size ViT-B/16 with
random weights is built in a temporary folder (same loading cost as the real model).
"""

import argparse
import os
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


def seconds_to_picker(screen, command, title, env=None):
    start = time.perf_counter()
    program = subprocess.Popen(command, cwd=REPO, env=screen.env(env), stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        screen.find(title, timeout=120, process=program)
        return time.perf_counter() - start
    finally:
        program.kill()
        program.wait()


def cached_default_model(model, home):
    """Fill home (an HF_HOME) with model as the default model's pinned snapshot, through the real client."""
    from fakehub import FakeHub

    from classifier.base.defaults import DEFAULT_MODEL, DEFAULT_REVISION

    with FakeHub(model, repo_id=DEFAULT_MODEL, revision=DEFAULT_REVISION) as hub:
        env = hub.env(home)
        subprocess.run([sys.executable, "-c", "from classifier.hub.locate import model_folder; model_folder("
                        f"{DEFAULT_MODEL!r}, {DEFAULT_REVISION!r})"], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, HF_HOME=str(home), HF_HUB_OFFLINE="0")
    env.pop("HF_ENDPOINT", None)
    return env


def measure(model, runs, window_manager="openbox"):
    """{name: [seconds, ...]}; the first entries are this program's, the last the reference's."""
    with tempfile.TemporaryDirectory() as scratch:
        reference = Path(scratch) / "imports_first.py"
        reference.write_text(IMPORTS_FIRST)
        cache_env = cached_default_model(model, Path(scratch) / "hf")
        cases = {
            "este programa, --modelo CARPETA": ([sys.executable, "script_modelo.py", "--model", model], None),
            "este programa, modelo por defecto en caché": ([sys.executable, "script_modelo.py"], cache_env),
            "script que importa primero": ([sys.executable, str(reference), model], None),
        }
        with xdesktop.VirtualScreen(window_manager=window_manager) as screen:
            for command, env in cases.values():  # warm the file cache once
                seconds_to_picker(screen, command, "^Elija una", env)
            results = {name: [] for name in cases}
            for _ in range(runs):  # in turns, so a burst of load falls on all of them alike
                for name, (command, env) in cases.items():
                    results[name].append(seconds_to_picker(screen, command, "^Elija una", env))
            return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="carpeta del modelo (por defecto: un ViT-B/16 aleatorio temporal)")
    parser.add_argument("--runs", type=int, default=5, help="repeticiones (por defecto: 5)")
    args = parser.parse_args()
    reason = xdesktop.available("openbox")
    if reason:
        sys.exit(f"No se puede medir: {reason}")
    from benchmarks.random_vit import given_or_random_vit

    with given_or_random_vit(args.model) as model:
        results = measure(model, args.runs)
    theirs = statistics.median(results["script que importa primero"])
    print(f"Selector de archivos en pantalla (mediana de {args.runs}; Xvfb con openbox; objetivo: menos de 0,7 s):")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:<44} {median:5.2f} s  razón {median / theirs:.2f}×  ({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
