"""The partial files of a download, and whose they are.

huggingface_hub 2.5 writes each file to `blobs/<hash>.<8 hex>.incomplete`, a name of its
own per process (file_download._download_to_tmp_and_move), while it holds the lock
`<cache>/.locks/models--…/<hash>.lock` (a filelock). A child that is killed cannot
delete its file; and the next process never resumes it (it opens its own). So a partial
file whose lock nobody holds belongs to a run that is gone: it is removed. One whose lock
is held belongs to a live run (another window, another terminal): it stays.
"""

import os

SUFFIX = ".incomplete"


def blob_of(name):
    """The hash a partial file is for: «<hash>.<8 hex>.incomplete» or the older «<hash>.incomplete»."""
    return name.split(".", 1)[0]


def partial_files(blobs):
    try:
        names = os.listdir(blobs)
    except OSError:
        return []
    return [name for name in names if name.endswith(SUFFIX)]


def lock_held(lock_path):
    """True while a live process holds the client's lock. A lock file that is not there is held by
    no one: nothing is created to find out."""
    if os.path.lexists(lock_path + ".soft"):
        return True  # the client's fallback where flock is missing: a marker file, held while it is there
    if not os.path.lexists(lock_path):
        return False
    if os.path.islink(lock_path) or not os.path.isfile(lock_path):
        return True  # something odd: leave its partial file be
    from filelock import FileLock, Timeout

    try:
        lock = FileLock(lock_path, timeout=0, fallback_to_soft=False)
    except TypeError:  # filelock < 4.2.1
        lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except (Timeout, OSError, NotImplementedError):
        return True  # held, unreadable or not lockable here: assume a live owner rather than delete its work
    lock.release()
    return False


def remove_dead(blobs, locks):
    """Remove the partial files of runs that are gone; returns the bytes freed."""
    freed = 0
    for name in partial_files(blobs):
        if lock_held(os.path.join(locks, blob_of(name) + ".lock")):
            continue
        path = os.path.join(blobs, name)
        try:
            size = os.lstat(path).st_size
            os.remove(path)  # a name inside the cache's own folder: a link there is removed, never followed
        except OSError:
            continue
        freed += size
    return freed


def complete_bytes(blobs, files):
    """Bytes of the planned files [(hash, size)] already complete in the cache: what a run reuses."""
    done = 0
    for blob, size in files:
        if os.path.isfile(os.path.join(blobs, blob)) and not os.path.islink(os.path.join(blobs, blob)):
            done += size
    return done


def written_bytes(blobs, files):
    """Bytes on disk of the planned files, complete or being written now (progress, not reuse)."""
    names = partial_files(blobs)
    done = 0
    for blob, size in files:
        if os.path.isfile(os.path.join(blobs, blob)):
            done += size
            continue
        for name in names:
            if blob_of(name) == blob:
                try:
                    done += min(os.stat(os.path.join(blobs, name)).st_size, size)
                except OSError:
                    pass
                break
    return done
