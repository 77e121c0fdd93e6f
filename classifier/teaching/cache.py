"""Each photo's representation kept on disk, by the photo's content and the base model's identity.

Adding photos and teaching again reads only the new ones; a teaching stopped with Ctrl+C keeps
every row already written. The cache is a help, never a need: a row that cannot be read or
written is simply computed again.
"""

import io
import os
import tempfile

import numpy as np

from classifier.base.defaults import config_folder
from classifier.base.files import read_small_regular_file

CACHE_FOLDER = "aprender"  # inside the program's config folder, next to the fast mode's precision.json
_ROW_LIMIT = 1 << 20  # a row is a few KB; anything larger is not one of ours


class FeatureCache:
    def __init__(self, base_identity, size, root=None):
        self.folder = os.path.join(root or config_folder(), CACHE_FOLDER, base_identity[:32])
        self.size = size

    def _path(self, photo_hash):
        return os.path.join(self.folder, photo_hash[:2], f"{photo_hash}.npy")

    def get(self, photo_hash):
        """The cached row, or None."""
        try:
            row = np.load(io.BytesIO(read_small_regular_file(self._path(photo_hash), _ROW_LIMIT)),
                          allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if row.shape != (self.size,) or row.dtype != np.float32 or not np.isfinite(row).all():
            return None
        return row

    def put(self, photo_hash, row):
        path = self._path(photo_hash)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            file = tempfile.NamedTemporaryFile(dir=os.path.dirname(path), prefix=".", suffix=".tmp", delete=False)
        except OSError:
            return
        try:
            with file:
                np.save(file, np.asarray(row, dtype=np.float32), allow_pickle=False)
            os.replace(file.name, path)
        except OSError:  # a full disk: the row is computed again next time
            _remove(file.name)
        except BaseException:  # Ctrl+C mid-write: no half row is left behind
            _remove(file.name)
            raise


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass
