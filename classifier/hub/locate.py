"""Where a model's files are: a local folder as given, else the Hugging Face cache, repaired or downloaded
(download.py) when files are missing or damaged; a --modelo that is neither is refused in words.
"""

import os
import re
import socket
import stat
import urllib.parse

from classifier.base.defaults import DEFAULT_MODEL
from classifier.base.errors import ModelLoadError, quoted
from classifier.base.files import kind_of
from classifier.hub import settings as hub_settings
from classifier.hub import words as hub_words
from classifier.hub.cache import (
    cached_folder,
    damaged_files,
    refuse_links_outside,
    refuse_planted_links,
    remove_cached,
    repo_folder,
)
from classifier.hub.checks import shown
from classifier.hub.download import download
from classifier.hub.download_progress import DownloadProgress
from classifier.hub.settings import deadline_seconds, endpoint, endpoint_usable, is_offline

_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def default_revision(model, revision):
    """None means the pinned commit for the default model (reproducible, safetensors), else the hub's main."""
    from classifier.base.defaults import DEFAULT_REVISION

    return DEFAULT_REVISION if revision is None and model == DEFAULT_MODEL else revision

def model_folder(model, revision, progress=None):
    """The folder holding the model's files: a local folder as given, else the hub's cache,
    downloading what is missing or damaged. ModelLoadError (a Spanish sentence) when that cannot be."""
    progress = progress or DownloadProgress()
    # The default model is always the hub's: a folder of its name in the current folder would be a silent
    # swap; a local copy of it is named as a path (./google/…).
    if model != DEFAULT_MODEL and os.path.isdir(model):
        return model
    hub_settings.no_agent_registry()
    not_folder = _not_a_folder(model) if model != DEFAULT_MODEL else None
    if not_folder is not None:  # a path that exists is never a hub id: no network
        raise ModelLoadError(not_folder)
    if looks_like_path(model):
        raise ModelLoadError(f"No existe la carpeta del modelo {quoted(model)}.")
    refuse_planted_links(model)
    folder = cached_folder(model, revision)
    if folder is not None:
        refuse_links_outside(model, folder)
        damaged = damaged_files(model, revision, folder, check_contents=False)
        if not damaged:
            return folder
        return repair(model, revision, folder, progress, damaged)
    endpoint_usable()
    if is_offline():
        raise ModelLoadError(hub_words.offline_message(model))
    if not hub_reachable():
        raise ModelLoadError(hub_words.offline_message(model))
    return download(model, revision, progress)

def repair(model, revision, folder, progress=None, damaged=None):
    """Download again the damaged files of a cached model, once; their names found by size,
    or (damaged None: the model failed to load) by hash. Returns the folder; ModelLoadError when
    nothing is damaged (the fault is elsewhere) or the hub cannot be reached."""
    progress = progress or DownloadProgress()
    refuse_links_outside(model, folder)
    if damaged is None:
        damaged = damaged_files(model, revision, folder, check_contents=True)
        if not damaged:
            return None
    listed = ", ".join(shown(name, quotes=False) for name in damaged)
    endpoint_usable()
    if is_offline() or not hub_reachable():
        offline = " (HF_HUB_OFFLINE=1)" if is_offline() else ""
        raise ModelLoadError(
            f"Los archivos del modelo {quoted(model)} en la caché están dañados ({listed}) y no hay conexión "
            f"con Hugging Face{offline} para descargarlos de nuevo: borre la carpeta {quoted(repo_folder(model))} y "
            "ejecute el programa con conexión, o use --modelo CARPETA."
        )
    progress.announce(f"Los archivos del modelo {quoted(model)} en la caché están dañados ({listed}): "
                      "se descargan de nuevo.")
    remove_cached(model, folder, damaged)
    return download(model, revision, progress, announce=False)

def _not_a_folder(model):
    """The sentence for a --modelo that names an existing file, device or pipe; None otherwise."""
    try:
        mode = os.stat(model).st_mode
    except (OSError, ValueError):  # missing, unreachable, or a NUL in the name: not a path that exists
        return None
    if stat.S_ISREG(mode) and model.endswith((".json", ".safetensors")):
        # config.json or model.safetensors given for its folder: a common slip, answered with the folder.
        folder = os.path.dirname(os.path.normpath(model)) or "."
        return (f"{quoted(model)} es un archivo, no la carpeta de un modelo: use --modelo {quoted(folder)}, la carpeta "
                "que lo contiene.")
    return (f"{quoted(model)} es {kind_of(mode)}, no la carpeta de un modelo (la que contiene config.json) ni un "
            "identificador de Hugging Face.")

def looks_like_path(model):
    return (model.startswith((".", "/", "~", "\\")) or model.count("/") > 1 or "\\" in model
            or re.match(r"^[A-Za-z]:", model) is not None)

def hub_reachable(timeout=5.0):
    """A quick look at HF_ENDPOINT's host and port (443 for https, 80 for http, or the one it names),
    before the hub client's retries, which take over 20 s when offline."""
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return True  # behind a proxy only the hub client can tell
    address = urllib.parse.urlsplit(endpoint())
    try:
        port = address.port or (80 if address.scheme == "http" else 443)
    except ValueError:
        return False
    if not address.hostname:
        return False
    try:
        socket.create_connection((address.hostname, port), timeout=min(timeout, deadline_seconds())).close()
    except OSError:
        return False
    return True
