"""A model folder's files opened bounded: a pipe, a device, a folder or a file far too large is named
for what it is, never read; its settings files (config.json and the like) read as JSON."""

import codecs
import json
import os
import stat
from contextlib import contextmanager

from classifier.base.files import NotSmallRegularFile, kind_of, open_regular_file

_SETTINGS_BYTES = 16 * 1024 * 1024  # a config.json is a few KB; a larger "settings file" is not one


class NotPlain(Exception):
    """A file of the folder that is a pipe, a device, a folder or too large to be what it says; args[0]
    says what it is, in Spanish («no es un archivo normal, sino una tubería (FIFO)»)."""


class _ByteOrderMark(NotPlain):
    """A settings file that starts with UTF-8's byte order mark (Windows Notepad's «UTF-8»): transformers
    reads it as text and its JSON parser stops at the mark."""


def _too_large(limit):
    return f"mide más de {limit // (1024 * 1024)} MB, y un archivo de ajustes ocupa unos KB"


@contextmanager
def plain_file(path, limit=None):
    """(file, size) of path opened for reading, once known to be a plain file of at most limit bytes.

    Looked at before it is opened (a device is named, never opened) and again once open, in case
    it was swapped (files.open_regular_file). FileNotFoundError when missing, PermissionError when
    unreadable; NotPlain for a pipe, a device, a folder or a file over limit.
    """
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotPlain(f"no es un archivo normal, sino {kind_of(mode)}")
    try:
        with open_regular_file(path, limit) as (file, info):
            yield file, info.st_size
    except NotSmallRegularFile as exc:
        raise NotPlain(_too_large(limit) if stat.S_ISREG(exc.mode) else f"no es un archivo normal, sino "
                       f"{kind_of(exc.mode)}") from None


def read_settings(path):
    """The JSON value a settings file holds, read bounded; None when it is not JSON (transformers'
    own reading reports that). As plain_file, and _ByteOrderMark."""
    with plain_file(path, _SETTINGS_BYTES) as (file, _):
        data = file.read(_SETTINGS_BYTES + 1)
    if len(data) > _SETTINGS_BYTES:  # it grew while it was read
        raise NotPlain(_too_large(_SETTINGS_BYTES))
    if data.startswith(codecs.BOM_UTF8):
        raise _ByteOrderMark("empieza con la marca BOM que añaden algunos editores de Windows; guárdelo como UTF-8 "
                             "sin BOM")
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # RecursionError: JSON nested past Python's limit
        return None
