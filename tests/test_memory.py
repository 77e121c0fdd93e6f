"""The allocator settings of small batches: freed large blocks go back to the system.

The reference is glibc's own behaviour in the same process without them: after Pillow
frees a 16 MB block, blocks of a few MB freed under a live allocation stay resident.
"""

import ctypes.util
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from conftest import PHOTOS, REPO, without_screen

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("c") != "libc.so.6", reason="glibc only"
)

# argv: what to run first ("nothing", "small_footprint", or a command line for cli.main);
# prints, last, the MiB still resident after the forward-pass-like blocks are freed.
SCRIPT = textwrap.dedent("""
    import ctypes, sys

    if sys.argv[1] == "small_footprint":
        from classifier.engine import memory
        memory.small_footprint()
    elif sys.argv[1] != "nothing":
        from classifier.app.cli import main
        main(sys.argv[1:])

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def anon_mib():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("RssAnon:"))
        return int(line.split()[1]) / 1024

    MB = 1024 * 1024
    block = libc.malloc(16 * MB)  # a decoded photo's block, freed
    ctypes.memset(block, 1, 16 * MB)
    libc.free(block)
    before = anon_mib()
    blocks = [libc.malloc(4 * MB) for _ in range(6)]  # activations...
    kept = libc.malloc(100_000)  # ...under something that lives on, as the model's outputs do
    for b in blocks:
        ctypes.memset(b, 1, 4 * MB)
    for b in blocks:
        libc.free(b)
    print(anon_mib() - before)
""")


def _kept_after_free(*first, answers=None):
    done = subprocess.run([sys.executable, "-c", SCRIPT, *first], cwd=REPO, capture_output=True, text=True,
                          input=answers, env=without_screen(), timeout=120)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.splitlines()[-1])


def test_small_footprint_hands_freed_activations_back():
    assert _kept_after_free("nothing") > 20  # glibc's defaults keep the 24 MB
    assert _kept_after_free("small_footprint") < 2


def test_small_batches_and_the_desktop_use_it_and_large_batches_do_not(tiny_model_dir, tmp_path):
    model = ["--model", str(tiny_model_dir)]
    assert _kept_after_free(*model, str(PHOTOS[0])) < 2
    for index in range(10):
        Image.new("RGB", (64, 48), (index * 20, 90, 160)).save(tmp_path / f"foto_{index}.png")
    assert _kept_after_free(*model, str(tmp_path)) > 20  # faster decoding, peak already under the pipeline's
    # No screen: the desktop mode asks in the terminal for a path, then whether to go on.
    assert _kept_after_free(*model, answers=f"{PHOTOS[0]}\nn\n") < 2
