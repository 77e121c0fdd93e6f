"""The allocator settings of small batches: freed large blocks go back to the system."""

import ctypes.util
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO

# Pillow frees a 16 MB block of a decoded photo; the forward pass then allocates and frees
# blocks of a few MB. glibc's moving threshold would keep those in a heap it never trims.
SCRIPT = textwrap.dedent("""
    import ctypes, sys
    from classifier import memory

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def anon_mib():
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("RssAnon:"))
        return int(line.split()[1]) / 1024

    if sys.argv[1] == "small":
        memory.small_footprint()
    MB = 1024 * 1024
    block = libc.malloc(16 * MB)
    ctypes.memset(block, 1, 16 * MB)
    libc.free(block)
    before = anon_mib()
    blocks = [libc.malloc(4 * MB) for _ in range(6)]
    for b in blocks:
        ctypes.memset(b, 1, 4 * MB)
    for b in blocks:
        libc.free(b)
    print(anon_mib() - before)
""")


def _kept_after_free(mode):
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=REPO, capture_output=True, text=True,
                          check=True)
    return float(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") != "libc.so.6",
                    reason="glibc only")
def test_small_footprint_hands_freed_activations_back():
    # The reference: glibc's defaults keep the 24 MB freed, as the forward pass's blocks were.
    assert _kept_after_free("default") > 20
    assert _kept_after_free("small") < 2
