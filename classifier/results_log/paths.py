"""One photo, one key: the absolute path a record keeps, however the user spelt it."""

import os
import re
import stat


def same_photo(path):
    """One key per photo, however its path is spelt: ./a.jpg, a.jpg, d//a.jpg, d/../d/a.jpg, /abs/a.jpg."""
    return os.path.normcase(photo_path(path))


def photo_path(path):
    """The path a record keeps: absolute, so that a rerun from any folder knows the photo, and spelt
    one way: no "." or empty parts, and no "d/.." where d is a real folder.

    Links are not resolved: two names of one file are two photos to the user, as in the folder,
    and the record keeps the name the user knows. "link/.." stays: the system goes up from the
    link's target there, so dropping the pair could name another file.
    """
    path = os.fsdecode(path)
    try:
        absolute = os.path.join(os.getcwd(), path)  # an absolute path stays as it is
    except OSError:  # no current folder (it was deleted): nothing relative opens either
        return path
    drive, rest = os.path.splitdrive(absolute)
    parts = re.split("[" + re.escape(os.sep + (os.altsep or "")) + "]", rest)
    kept = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == ".." and (not kept or kept[-1] != ".." and _real_folder(drive + os.sep + os.sep.join(kept))):
            del kept[-1:]  # at the root, ".." is the root
            continue
        kept.append(part)
    # "gato.png/" or "gato.png/." is not the photo gato.png (the system says it is not a folder).
    trailing = os.sep if kept and parts[-1] in ("", ".", "..") else ""
    return drive + os.sep + os.sep.join(kept) + trailing


def _real_folder(path):
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except (OSError, ValueError):  # missing, unreadable, or a NUL in the name
        return False
