"""The model's files in the Hugging Face cache: its snapshot folder, which files disagree with the hub's record
(size, hash), links planted in it refused, damaged files removed, only inside the model's own cache folder.
"""

import hashlib
import json
import os

from classifier.base.defaults import DEFAULT_MODEL
from classifier.base.errors import ModelLoadError, quoted, system_reason
from classifier.hub.checks import HEX40, HEX64
from classifier.hub.links import in_shared_store, planted_link, planted_sentence, resolves_inside
from classifier.hub.settings import HUB_IGNORED, HUB_PATTERNS

_SHA256, _SHA1 = HEX64, HEX40


def cached_folder(model, revision):
    """The cached snapshot folder with every file, or None; an invalid id is refused in words."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, IncompleteSnapshotError, LocalEntryNotFoundError

    try:
        return snapshot_download(model, revision=revision, allow_patterns=HUB_PATTERNS, ignore_patterns=HUB_IGNORED,
                                 local_files_only=True)
    except HFValidationError:
        raise ModelLoadError(
            f"{quoted(model)} no es una carpeta ni un identificador válido de Hugging Face (como {DEFAULT_MODEL})."
        ) from None
    except (LocalEntryNotFoundError, IncompleteSnapshotError):
        return None  # not cached yet, or a download was cut: download (the rest) below

def is_cached_snapshot(folder):
    """True when folder is a snapshot in the hub's cache (it can be downloaded again), not the user's own."""
    from huggingface_hub import constants

    cache = os.path.realpath(constants.HF_HUB_CACHE)
    return os.path.realpath(folder).startswith(cache + os.sep)

def repo_folder(model):
    """The cache folder of one model (models--org--name): what to delete to start afresh."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return os.path.join(constants.HF_HUB_CACHE, repo_folder_name(repo_id=model, repo_type="model"))

def locks_folder(model):
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return os.path.join(constants.HF_HUB_CACHE, ".locks", repo_folder_name(repo_id=model, repo_type="model"))

def damaged_files(model, revision, folder, check_contents):
    """Names of cached files that disagree with the hub's record of them.

    The record is the tree listing the hub client keeps with the cache (trees/<commit>.json).
    A size that differs is checked by content: a file whose hash is the recorded one is good,
    whatever size a hub claimed. With check_contents every hash is checked; without a
    record, the hash that names the cache's blob is.
    """
    record = _recorded_files(folder)
    damaged = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        try:
            size = os.stat(path).st_size
        except OSError:
            damaged.append(name)  # a link to a blob that is gone
            continue
        expected = record.get(name)
        wrong_size = expected is not None and size != expected["size"]
        if (wrong_size or check_contents) and not content_matches(path, expected):
            damaged.append(name)
    return damaged

def _recorded_files(folder):
    """{name: {"blob", "size"}} from the client's cached listing of this snapshot's commit; {} without one."""
    commit = os.path.basename(os.path.normpath(folder))
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.normpath(folder))), "trees", commit + ".json")
    try:
        with open(path, encoding="utf-8") as file:
            files = json.load(file)["files"]
        record = {}
        for name, entry in files.items():
            blob = entry.get("lfs_sha256") or entry["blob_id"]
            size = entry.get("lfs_size") if entry.get("lfs_sha256") else entry["size"]
            if isinstance(blob, str) and isinstance(size, int) and not isinstance(size, bool):
                record[name] = {"blob": blob, "size": size}
        return record
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}

def content_matches(path, expected=None):
    """The content's hash is the one expected (the listing's), or else the one its blob is named by:
    sha256 for large (LFS) files, git's sha1 for small ones."""
    if expected is None and in_shared_store(path, repo_folder_of(path)):
        return True  # named by its Xet hash, which is not a hash of its bytes: only a record can check it
    blob = expected["blob"] if expected else os.path.basename(os.path.realpath(path))
    size = os.path.getsize(path)
    if _SHA256.fullmatch(blob):
        digest = hashlib.sha256()
    elif _SHA1.fullmatch(blob):
        digest = hashlib.sha1(f"blob {size}\0".encode())
    else:
        return True  # a copy, not a link (Windows without symlinks): only its size can be checked
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest() == blob

def repo_folder_of(path):
    """models--… of a snapshot entry (…/models--…/snapshots/<commit>/<name>)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(path))))


def _inside(path, folder):
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)

def refuse_planted_links(model):
    """Before the cache is read, written or cleaned: no link there leads out of the model's folders."""
    try:
        path = planted_link(repo_folder(model), locks_folder(model))
    except (OSError, ValueError):
        return  # an unreadable cache is told by what reads it
    if path is not None:
        raise ModelLoadError(planted_sentence(quoted(model), path))

def refuse_links_outside(model, folder):
    """A cache entry that resolves outside the model's cache folder is never followed, read or removed."""
    storage = repo_folder(model)
    for name in ["", *sorted(os.listdir(folder))]:
        path = os.path.join(folder, name) if name else folder
        if not (_inside(path, storage) if not name else resolves_inside(path, storage)):
            raise ModelLoadError(
                f"La caché del modelo {quoted(model)} tiene un archivo que apunta fuera de su carpeta ({name} → "
                f"{quoted(os.path.realpath(path))}); el programa no lo sigue: borre la carpeta "
                f"{quoted(storage)} (solo sus enlaces, no lo que señalan) y vuelva a ejecutar el programa.")

def remove_cached(model, folder, names):
    """Remove these files of a snapshot, link and blob, only inside the model's cache folder."""
    storage = repo_folder(model)
    for name in names:
        path = os.path.join(folder, name)
        stale = [path]
        if _inside(path, storage) and os.path.realpath(path) != os.path.abspath(path):
            stale.append(os.path.realpath(path))
        elif in_shared_store(path, storage) and os.path.islink(path):
            # The client's shared blob is not ours to remove: our link to it goes, and the next download
            # writes a blob of our own.
            blob = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
            if os.path.dirname(blob) == os.path.join(os.path.normpath(storage), "blobs"):
                stale.append(blob)
        for entry in stale:
            try:
                os.remove(entry)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ModelLoadError(
                    f"No se pudo borrar el archivo dañado {quoted(entry)} de la caché ({system_reason(exc)}): "
                    f"borre la carpeta {quoted(storage)} y vuelva a ejecutar el programa."
                ) from None
