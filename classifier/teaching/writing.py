"""The taught head written into the base model's own classification layer, saved as a plain
transformers folder (safetensors, config with the new classes, the base's image processor).

It is written into a new temporary folder beside DESTINO and renamed into place, so DESTINO is
either absent, the old model or the whole new one. A mark file says this program wrote it: only
such a folder is ever replaced; anything else at DESTINO is refused before any work.
"""

import ctypes
import json
import os
import shutil
import tempfile

import torch
from torch import nn

from classifier.base.errors import quoted, system_reason
from classifier.base.files import read_small_regular_file
from classifier.model.folder import weight_progress_bars_hidden

from .classes import TeachingError

MARK_FILE = "clasificador-vit-aprendido.json"
MARK_SOFTWARE = "clasificador-vit aprender"
_MARK_LIMIT = 1 << 20
_RENAME_EXCHANGE = 2  # renameat2's flag (Linux): swap two paths in one step


def is_ours(folder):
    """True when folder is a real folder holding this program's mark."""
    if os.path.islink(folder) or not os.path.isdir(folder):
        return False
    try:
        mark = json.loads(read_small_regular_file(os.path.join(folder, MARK_FILE), _MARK_LIMIT))
    except (OSError, ValueError):
        return False
    return isinstance(mark, dict) and mark.get("software") == MARK_SOFTWARE


def check_destination(destination, classes_folder):
    """TeachingError unless DESTINO may be written: absent, or a folder this program wrote, and not
    inside CARPETA (it would become a class folder's photo source) nor holding it (replacing it would
    delete the photos)."""
    if not destination:
        raise TeachingError("Falta la carpeta del modelo nuevo: indíquela con --nuevo-modelo DESTINO.")
    where, photos = os.path.realpath(destination), os.path.realpath(classes_folder)
    if where == photos or where.startswith(photos + os.sep):
        raise TeachingError(f"La carpeta del modelo nuevo {quoted(destination)} está dentro de la carpeta de "
                            f"clases {quoted(classes_folder)}: elija un DESTINO fuera de ella.")
    if photos.startswith(where + os.sep):
        raise TeachingError(f"La carpeta de clases {quoted(classes_folder)} está dentro de la carpeta del modelo "
                            f"nuevo {quoted(destination)}: elija un DESTINO fuera de ella.")
    if os.path.lexists(destination) and not is_ours(destination):
        raise TeachingError(f"{quoted(destination)} ya existe y no es un modelo que enseñara este programa: no se "
                            "toca; elija otro nombre para --nuevo-modelo.")
    parent = os.path.dirname(os.path.abspath(destination))
    if not os.path.isdir(parent):
        raise TeachingError(f"La carpeta donde iría el modelo nuevo, {quoted(parent)}, no existe: créela o elija "
                            "otro DESTINO.")


def put_head(model, layer_name, weight, bias, names):
    """Replace the model's classification layer by the taught one, with the classes in its config."""
    parent_name, _, child = layer_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    old = getattr(parent, child)
    layer = nn.Linear(weight.shape[1], weight.shape[0], dtype=old.weight.dtype, device=old.weight.device)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight))
        layer.bias.copy_(torch.as_tensor(bias))
    setattr(parent, child, layer)
    config = model.config
    config.num_labels = len(names)
    config.id2label = dict(enumerate(names))
    config.label2id = {name: index for index, name in enumerate(names)}
    # The head is a softmax over the new classes, whatever the base was (a multi-label base, say).
    config.problem_type = "single_label_classification"


def write_model(model, processor, destination, summary):
    """Save model and processor into DESTINO through a temporary folder beside it and a rename."""
    destination = os.path.abspath(destination)
    parent, name = os.path.split(destination)
    try:
        staging = tempfile.mkdtemp(dir=parent, prefix=f".{name}-", suffix=".tmp")
    except OSError as exc:
        raise TeachingError(f"No se puede escribir el modelo nuevo en {quoted(parent)} "
                            f"({system_reason(exc)}).") from None
    try:
        with weight_progress_bars_hidden():  # transformers' «Writing model shards» bar, in English
            model.save_pretrained(staging, safe_serialization=True)
        processor.save_pretrained(staging)
        with open(os.path.join(staging, MARK_FILE), "w", encoding="utf-8") as file:
            json.dump({"software": MARK_SOFTWARE, **summary}, file, ensure_ascii=False, indent=1)
        _move_into_place(staging, destination)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise TeachingError(f"No se pudo escribir el modelo nuevo en {quoted(destination)} "
                            f"({system_reason(exc)}); no se ha cambiado nada.") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _move_into_place(staging, destination):
    if not os.path.lexists(destination):
        os.rename(staging, destination)
        return
    if not is_ours(destination):  # something else appeared there meanwhile: never replaced
        raise TeachingError(f"{quoted(destination)} ya existe y no es un modelo que enseñara este programa: no se "
                            "toca; elija otro nombre para --nuevo-modelo.")
    if _exchange(staging, destination):
        shutil.rmtree(staging, ignore_errors=True)  # it now holds the old model
        return
    # No atomic swap here (not Linux): the old folder steps aside first and comes back if the rename fails.
    old = staging + ".old"
    os.rename(destination, old)
    try:
        os.rename(staging, destination)
    except OSError:
        os.rename(old, destination)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _exchange(first, second):
    """Swap two paths atomically with renameat2(RENAME_EXCHANGE); False where the system has no such call."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd = -100
    result = renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (38, 22, 95):  # ENOSYS, EINVAL, EOPNOTSUPP: a kernel or file system without it
        return False
    raise OSError(error, os.strerror(error))
