"""Links planted in the hub's cache, found before anything is written or removed there.

huggingface_hub 2.5 follows whatever it finds on the way: it writes `blobs/<hash>.<8 hex>.incomplete`
and renames it into blobs/ (file_download._download_to_tmp_and_move), creates and truncates
`.locks/models--…/<hash>.lock` (filelock), and links `snapshots/<commit>/<name>` into place,
sub-folders created with os.makedirs (file_download._create_symlink). partial.py removes dead
partial files from blobs/. A folder on any of these ways that is a link, or an entry that leads
outside the model's own cache folder, would send those writes and removals elsewhere: the whole
model folder and its lock folder are looked at first, and such a link is refused in words.

One kind of link outside is the client's own: its shared blob store (utils/_shared_blobs.py, on by
default with Xet downloads), where `blobs/<etag>` is a link to `<cache>/blobs/<2 hex>/<xet hash>`, a
regular file in a folder marked `.huggingface-shared-blobs`. A cache another program made with the
client (a notebook's pipeline, «hf download») looks so; it is followed, never written or removed.
"""

import os
import re

_STORE_MARKER = ".huggingface-shared-blobs"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _inside(path, folder):
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


def in_shared_store(path, storage):
    """True when path resolves to a file of the client's shared blob store beside storage (models--…):
    <cache>/blobs/<2 hex>/<64 hex>, the store folder marked by the client and not itself a link."""
    store = os.path.join(os.path.dirname(storage), "blobs")
    marker = os.path.join(store, _STORE_MARKER)
    if os.path.islink(store) or not os.path.isdir(store) or os.path.islink(marker) or not os.path.isfile(marker):
        return False
    real = os.path.realpath(path)
    parts = os.path.relpath(real, os.path.realpath(store)).split(os.sep)
    return (len(parts) == 2 and _HEX64.fullmatch(parts[1]) is not None and parts[0] == parts[1][:2]
            and os.path.isfile(real))


def resolves_inside(path, storage):
    """The entry leads into the model's own cache folder, or into the client's shared blob store."""
    return _inside(path, storage) or in_shared_store(path, storage)


def planted_link(storage, locks):
    """The first link in the model's cache folder (storage) or its lock folder (locks) that a download
    would follow out of them, or None. Only files of snapshots/ may be links, to blobs inside storage, and
files of blobs/ to the client's shared store."""
    for path in (os.path.dirname(locks), locks, storage):
        if os.path.islink(path):
            return path
    if os.path.isdir(locks):
        for entry in os.scandir(locks):
            if entry.is_symlink():
                return entry.path
    blobs = os.path.join(storage, "blobs")
    for root, folders, files in os.walk(storage):
        for name in folders + files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                continue
            if name in folders or os.path.isdir(path):
                return path
            if root == blobs and not in_shared_store(path, storage):
                return path
            if not resolves_inside(path, storage):
                return path
    return None


def planted_sentence(model_shown, path):
    """The user's words for a planted link: the link alone goes, never what it points to."""
    return (f"La caché del modelo {model_shown} tiene un enlace que apunta fuera de su carpeta ({path} → "
            f"{os.path.realpath(path)}); el programa no lo ha seguido ni ha escrito nada: borre ese enlace (solo el "
            f"enlace, con «rm {path}», no lo que señala) y vuelva a ejecutar el programa.")
