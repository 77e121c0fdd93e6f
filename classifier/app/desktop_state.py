"""Where the picker opens: the last folder used (remembered in the program's config folder), else the
user's pictures folder."""

import json
import os

from classifier.base.defaults import config_folder
from classifier.base.files import read_small_regular_file, write_json_atomic

STATE_FILE = "estado.json"
_SMALL_FILE_BYTES = 64 * 1024  # the state file and user-dirs.dirs are a few lines


def default_state_file():
    """estado.json in the program's config folder (defaults.config_folder)."""
    return os.path.join(config_folder(), STATE_FILE)


def start_folder(state_file):
    """The last folder used, if it still exists; else the user's pictures folder; else the current one."""
    try:
        folder = json.loads(_small_text_file(state_file)).get("carpeta")
        if isinstance(folder, str) and os.path.isdir(folder):
            return folder
    except (OSError, ValueError, AttributeError, RecursionError):
        pass  # first run, or a damaged file: start afresh
    return pictures_folder() or os.getcwd()


def remember_folder(state_file, folder):
    """Save the folder for the next run; a read-only config folder only costs the memory."""
    try:
        write_json_atomic(state_file, {"carpeta": folder})
    except OSError:
        pass


def pictures_folder():
    """XDG's pictures folder (user-dirs.dirs), else ~/Pictures or ~/Imágenes when they exist."""
    home = os.path.expanduser("~")
    candidates = []
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    try:
        for line in _small_text_file(os.path.join(config, "user-dirs.dirs")).splitlines():
            if line.startswith("XDG_PICTURES_DIR="):
                value = line.split("=", 1)[1].strip().strip('"')
                candidates.append(value.replace("$HOME", home))
    except (OSError, ValueError):
        pass
    candidates += [os.path.join(home, "Pictures"), os.path.join(home, "Imágenes"), os.path.join(home, "Imagenes")]
    return next((folder for folder in candidates if folder != home and os.path.isdir(folder)), None)


def _small_text_file(path, limit=_SMALL_FILE_BYTES):
    """A small UTF-8 text file's content; OSError unless it is a regular file of at most limit bytes."""
    return read_small_regular_file(path, limit).decode("utf-8")
