"""The C allocator's side of peak memory (glibc, Linux): so a small batch peaks under the pipeline.

Decoded photos come and go in 16 MB blocks of Pillow's. glibc keeps freed memory for
reuse in three ways that the model's forward pass then pays for: each thread that
allocates gets an arena of its own; freed heap pages stay mapped; and freeing one
16 MB block raises glibc's mmap threshold to 16 MB (and its trim threshold to 32 MB),
so every later activation of the forward pass lands in a heap that is never handed
back. Elsewhere (Windows, macOS, musl) these do nothing.
"""

import ctypes
import functools
import sys

# mallopt's parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# Fixed, not glibc's moving thresholds: blocks from 2 MiB up (a Pillow block, the larger
# activations) are mapped on their own and go back to the system when freed, and so does
# free memory at the heap's top past 2 MiB. Both are set, because imports may already
# have moved them by the time this is called. Measured
# with 1, 4 photos of 12 MP: 256 KiB and 512 KiB save as much but cost 30 % more time
# per photo (page faults on every activation); 4 MiB and up save half as much.
_LARGE_BLOCK = 2 * 1024 * 1024


@functools.cache
def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:
        return None


def small_footprint():
    """One malloc arena for every thread, and large blocks handed back when freed.

    For a few pictures at a time (small batches, the desktop): memory matters more there
    than the decode threads' speed. Call before threads start.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, 1)
        libc.mallopt(_M_MMAP_THRESHOLD, _LARGE_BLOCK)
        libc.mallopt(_M_TRIM_THRESHOLD, _LARGE_BLOCK)


def give_back():
    """Return freed heap pages to the system (malloc_trim) before a forward pass.

    Large batches keep glibc's moving thresholds, and there the decode threads' freed
    pages would otherwise stay beside the model's activations.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
