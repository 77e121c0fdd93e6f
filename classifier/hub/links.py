"""Links planted in the hub's cache, found before anything is written or removed there.

huggingface_hub 2.5 follows whatever it finds on the way: it writes `blobs/<hash>.<8 hex>.incomplete`
and renames it into blobs/ (file_download._download_to_tmp_and_move), creates and truncates
`.locks/models--…/<hash>.lock` (filelock), and links `snapshots/<commit>/<name>` into place,
sub-folders created with os.makedirs (file_download._create_symlink). partial.py removes dead
partial files from blobs/. A folder on any of these ways that is a link, or an entry that leads
outside the model's own cache folder, would send those writes and removals elsewhere: the whole
model folder and its lock folder are looked at first, and such a link is refused in words.
"""

import os


def _inside(path, folder):
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


def planted_link(storage, locks):
    """The first link in the model's cache folder (storage) or its lock folder (locks) that a download
    would follow out of them, or None. Only files of snapshots/ may be links, to blobs inside storage."""
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
            if root == blobs or name in folders or os.path.isdir(path) or not _inside(path, storage):
                return path
    return None


def planted_sentence(model_shown, path):
    """The user's words for a planted link: the link alone goes, never what it points to."""
    return (f"La caché del modelo {model_shown} tiene un enlace que apunta fuera de su carpeta ({path} → "
            f"{os.path.realpath(path)}); el programa no lo ha seguido ni ha escrito nada: borre ese enlace (solo el "
            f"enlace, con «rm {path}», no lo que señala) y vuelva a ejecutar el programa.")
