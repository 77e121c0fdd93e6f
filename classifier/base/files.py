"""Small settings files read safely: the name may stand for a pipe, /dev/zero or a huge file.

Pillow-free on purpose: the desktop reads its settings before the picker opens.
"""

import json
import os
import stat
import tempfile
from contextlib import contextmanager

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # absent on Windows, which has no named pipes in folders


class NotSmallRegularFile(OSError):
    """The path opened, but what it opened is not a regular file of at most the limit's size.

    mode, size: what fstat said of it, for a caller that names what it was.
    """

    def __init__(self, message, mode=None, size=None):
        super().__init__(message)
        self.mode, self.size = mode, size


@contextmanager
def open_regular_file(path, limit=None):
    """(file, fstat result) of path opened for reading in binary, once known to be a regular file of
    at most limit bytes (None: any size).

    Opened without blocking (opening a pipe would wait for a writer forever) and judged by
    what was actually opened (fstat), so a name swapped after a check cannot fool it.
    OSError when it cannot be opened; NotSmallRegularFile when it is something else.
    """
    descriptor = os.open(path, _OPEN_FLAGS | _NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or limit is not None and info.st_size > limit:
            raise NotSmallRegularFile(f"not a regular file of at most {limit} bytes: {path}", info.st_mode,
                                      info.st_size)
        if _NONBLOCK:
            os.set_blocking(descriptor, True)  # reads wait as usual (a network drive's may have to)
        yield file, info


def read_small_regular_file(path, limit):
    """The bytes of a regular file of at most limit bytes (open_regular_file).

    At most limit + 1 bytes are read, so a file that grows meanwhile is cut, never unbounded.
    """
    with open_regular_file(path, limit) as (file, _):
        return file.read(limit + 1)


def kind_of(mode):
    """What a file of this st_mode is, in Spanish words for a sentence: «una carpeta», «un dispositivo»…"""
    if stat.S_ISREG(mode):
        return "un archivo"
    if stat.S_ISDIR(mode):
        return "una carpeta"
    if stat.S_ISFIFO(mode):
        return "una tubería (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "un dispositivo"
    if stat.S_ISSOCK(mode):
        return "un socket"
    return "un archivo especial"


def write_json_atomic(path, data, indent=None):
    """data as JSON at path, through a new temporary file in the same folder and a rename: a reader
    never sees half a file, and two writers never share a temporary name. OSError (a read-only
    folder, a full disk) leaves path as it was and no temporary file behind."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    file = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=folder, prefix=f".{os.path.basename(path)}-",
                                       suffix=".tmp", delete=False)
    try:
        with file:
            json.dump(data, file, ensure_ascii=False, indent=indent)
        os.replace(file.name, path)
    except BaseException:
        try:
            os.unlink(file.name)
        except OSError:
            pass
        raise
