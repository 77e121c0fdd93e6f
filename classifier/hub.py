"""Getting a model's files: a local folder, the Hugging Face cache, or a download from the hub.

The download runs in a child process (hub_child.py, started with an isolated path)
driven by the real huggingface_hub client; everything the hub says is checked there
(hub_checks.py) before the client acts on it. The parent watches the bytes arriving:
that gives the progress, and a deadline the client lacks (its listing requests have no
timeout at all, and a stalled connection can hang for hours). No byte for
CLASIFICADOR_HUB_PLAZO seconds (30 by default) ends the attempt: the child is killed,
its partial file removed (hub_partial.py), and the next attempt starts that file again
(the client 2.5 resumes only within one process). A child can always be killed; a
thread stuck in a socket cannot.

Nothing here prints: what happens is told to a DownloadProgress that the front-end
gives (a terminal line, plain lines, a window).
"""

import errno
import hashlib
import json
import os
import queue
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import deque

from . import hub_partial, hub_settings, hub_words
from .defaults import DEFAULT_MODEL
from .download_progress import DownloadProgress, DownloadState, duration, megabytes
from .errors import DownloadInterrupted, ModelLoadError, quoted, system_reason
from .files import kind_of
from .hub_checks import HEX40, HEX64, shown
from .hub_links import in_shared_store, planted_link, planted_sentence, resolves_inside
from .hub_settings import ATTEMPTS, deadline_seconds, endpoint, hub_url, is_offline

# Only these files are fetched from the hub: no pickle weights, no remote code.
HUB_PATTERNS = ["*.json", "*.safetensors"]
# The model is the repository's top level: a sub-folder (a Trainer's last-checkpoint/, onnx/) is never read,
# and fnmatch's * would match across its «/».
HUB_IGNORED = ["*/*"]
POLL_S = 0.1
STARTUP_S = 30.0  # the child's own import, on a slow disk
SPEED_WINDOW_S = 5.0
DISK_MARGIN = 16 * 2**20  # room left for the filesystem's own needs: never fill a disk to the last byte
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_SHA256, _SHA1 = HEX64, HEX40
WAIT_SHOWN_AFTER_S = 3.0  # a window says what it waits for once the silence is noticeable
MIN_PROGRESS_BYTES = 4096  # per deadline: a slower link (a trickle, 136 B/s at 30 s) counts as silent


def connecting_text():
    return f"Conectando con Hugging Face ({hub_url()})…"


def default_revision(model, revision):
    """None means the pinned commit for the default model (reproducible, safetensors), else the hub's main."""
    from .defaults import DEFAULT_REVISION

    return DEFAULT_REVISION if revision is None and model == DEFAULT_MODEL else revision


# --- where the files are ----------------------------------------------------------------------------


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
    _refuse_planted_links(model)
    folder = cached_folder(model, revision)
    if folder is not None:
        _refuse_links_outside(model, folder)
        damaged = damaged_files(model, revision, folder, check_contents=False)
        if not damaged:
            return folder
        return repair(model, revision, folder, progress, damaged)
    _endpoint_usable()
    if is_offline():
        raise ModelLoadError(hub_words.offline_message(model))
    if not hub_reachable():
        raise ModelLoadError(hub_words.offline_message(model))
    return download(model, revision, progress)


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
        if (wrong_size or check_contents) and not _content_matches(path, expected):
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


def _content_matches(path, expected=None):
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


def _refuse_planted_links(model):
    """Before the cache is read, written or cleaned: no link there leads out of the model's folders."""
    try:
        path = planted_link(repo_folder(model), _locks_folder(model))
    except (OSError, ValueError):
        return  # an unreadable cache is told by what reads it
    if path is not None:
        raise ModelLoadError(planted_sentence(quoted(model), path))


def _refuse_links_outside(model, folder):
    """A cache entry that resolves outside the model's cache folder is never followed, read or removed."""
    storage = repo_folder(model)
    for name in ["", *sorted(os.listdir(folder))]:
        path = os.path.join(folder, name) if name else folder
        if not (_inside(path, storage) if not name else resolves_inside(path, storage)):
            raise ModelLoadError(
                f"La caché del modelo {quoted(model)} tiene un archivo que apunta fuera de su carpeta ({name} → "
                f"{quoted(os.path.realpath(path))}); el programa no lo sigue: borre la carpeta "
                f"{quoted(storage)} (solo sus enlaces, no lo que señalan) y vuelva a ejecutar el programa.")


def repair(model, revision, folder, progress=None, damaged=None):
    """Download again the damaged files of a cached model, once; their names found by size,
    or (damaged None: the model failed to load) by hash. Returns the folder; ModelLoadError when
    nothing is damaged (the fault is elsewhere) or the hub cannot be reached."""
    progress = progress or DownloadProgress()
    _refuse_links_outside(model, folder)
    if damaged is None:
        damaged = damaged_files(model, revision, folder, check_contents=True)
        if not damaged:
            return None
    listed = ", ".join(shown(name, quotes=False) for name in damaged)
    _endpoint_usable()
    if is_offline() or not hub_reachable():
        offline = " (HF_HUB_OFFLINE=1)" if is_offline() else ""
        raise ModelLoadError(
            f"Los archivos del modelo {quoted(model)} en la caché están dañados ({listed}) y no hay conexión "
            f"con Hugging Face{offline} para descargarlos de nuevo: borre la carpeta {quoted(repo_folder(model))} y "
            "ejecute el programa con conexión, o use --modelo CARPETA."
        )
    progress.announce(f"Los archivos del modelo {quoted(model)} en la caché están dañados ({listed}): "
                      "se descargan de nuevo.")
    _remove_cached(model, folder, damaged)
    return download(model, revision, progress, announce=False)


def _remove_cached(model, folder, names):
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


def _endpoint_usable():
    """Before the hub is reached: a malformed HF_ENDPOINT (hub_settings.check) is told now, when it matters."""
    problem = hub_settings.endpoint_refused()
    if problem is not None:
        raise ModelLoadError(problem)


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


# --- the download, seen from the parent ---------------------------------------------------------------


def download(model, revision, progress, announce=True):
    """Download the model's files into the cache with deadlines and retries; returns the snapshot folder.

    A silence of the deadline (no byte of a file, or no answer to the listing) is one failed attempt.
    Mid-file the client itself tries again, resuming with a Range request (its read timeout is our
    deadline); before the files, or when the client has given up, a new child starts. ATTEMPTS
    silences, counted across children (a new listing is no progress), and the download gives up.
    """
    from huggingface_hub import constants

    cache = constants.HF_HUB_CACHE
    _endpoint_usable()
    _refuse_planted_links(model)
    _check_writable(cache)
    watch = _Watch(progress, repo_folder(model), _locks_folder(model))
    completed = False
    try:
        watch.clean()  # partial files of runs that are gone: never resumed, only room taken
        while True:
            outcome = _attempt(model, revision, watch, announce)
            if outcome.folder is not None:
                _check_contents(model, outcome.folder, watch)
                completed = True
                return outcome.folder
            if outcome.error is not None:
                raise ModelLoadError(hub_words.error_sentence(model, revision, outcome.error, watch, cache))
            if watch.stalls >= ATTEMPTS:
                raise ModelLoadError(hub_words.stalled_sentence(model, watch))
    except KeyboardInterrupt as exc:
        if type(exc) is not KeyboardInterrupt:
            raise  # SIGTERM, SIGHUP (status.Stopped): their own sentence and status
        raise DownloadInterrupted() from exc
    finally:
        watch.finish(completed)


def _locks_folder(model):
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return os.path.join(constants.HF_HUB_CACHE, ".locks", repo_folder_name(repo_id=model, repo_type="model"))


def _check_contents(model, folder, watch):
    """The folder is the snapshot of the commit the child checked, every planned file is there, and its
    content is the hash the listing promised; one that is not goes, with a sentence."""
    expected = os.path.join(repo_folder(model), "snapshots", watch.commit or "")
    if not watch.commit or os.path.normpath(os.path.abspath(folder)) != os.path.normpath(expected):
        raise ModelLoadError(hub_words.error_sentence(model, None, {"kind": "unsafe", "detail": (
            f"el cliente guardó el modelo en otra carpeta ({shown(folder)})")}, watch, None))
    _refuse_links_outside(model, folder)
    missing = [name for name in (watch.listed or {}) if not os.path.lexists(os.path.join(folder, name))]
    if missing:
        raise ModelLoadError(
            f"Hugging Face ({hub_url()}) no envió todos los archivos del modelo {quoted(model)} que lista "
            f"({', '.join(shown(name) for name in missing)}). Vuelva a ejecutar el programa más tarde o use otro "
            "servidor (HF_ENDPOINT).")
    wrong = [name for name, expected in (watch.listed or {}).items()
             if not _content_matches(os.path.join(folder, name), expected)]
    if wrong:
        _remove_cached(model, folder, wrong)
        names = ", ".join(shown(name, quotes=False) for name in wrong)  # a hub's names: no terminal escapes
        raise ModelLoadError(
            f"Hugging Face ({hub_url()}) envió archivos del modelo {quoted(model)} cuyo contenido no es el de su "
            f"lista ({names}); se han borrado. Vuelva a ejecutar el programa más tarde o use otro servidor "
            "(HF_ENDPOINT).")


class _Outcome:
    def __init__(self, folder=None, error=None):
        self.folder, self.error = folder, error


def _attempt(model, revision, watch, announce):
    """One child process: its folder, its error, or neither (it stalled: the caller decides whether to go on)."""
    child = _start_child(model, revision)
    events = queue.Queue()
    reader = threading.Thread(target=_read_events, args=(child.stdout, events), daemon=True)
    reader.start()
    watch.attempt_started()
    ready = False
    try:
        while True:
            try:
                event = events.get(timeout=POLL_S)
            except queue.Empty:
                event = None
            if event is not None:
                if "plan" in event:
                    watch.commit = event.get("commit")
                    problem = watch.plan(event["plan"])
                    if problem is not None:
                        return _Outcome(error=problem)
                    if announce and not watch.announced:
                        watch.announce(model)
                elif "bytes" in event:
                    watch.received(event["bytes"], event.get("wait"))
                elif "ready" in event:
                    ready = True
                    watch.attempt_started()  # Python's own start (seconds on a busy machine) is not the hub's silence
                elif "done" in event:
                    watch.poll()
                    return _Outcome(folder=event["done"])
                elif "error" in event:
                    error = event["error"]
                    if error.get("kind") == "stalled":  # the client gave up on a silent hub
                        watch.stalls += 1
                        return _Outcome()
                    return _Outcome(error=error)
                elif "eof" in event:
                    return _Outcome(error={"kind": "bug", "detail": f"el proceso de descarga terminó ({child.wait()})"})
            watch.poll()
            if watch.progress.cancelled():
                raise KeyboardInterrupt
            silent = watch.silent_for()
            if not ready:
                if silent > max(deadline_seconds(), STARTUP_S):
                    watch.stalls += 1
                    return _Outcome()
            elif silent > deadline_seconds() * (watch.stalls_this_attempt + 1):
                watch.stalls += 1
                watch.stalls_this_attempt += 1
                # Mid-file the client is trying again itself, resuming: let it, unless this was the last chance.
                if watch.files is None or not watch.network or watch.stalls >= ATTEMPTS:
                    return _Outcome()
    finally:
        _stop_child(child)
        watch.clean()  # our child's partial file: its lock went with it; a live run's stays


# The child imports the program from its own folder, never from the current one: -E ignores
# PYTHONPATH, and sys.path[0] (the current folder under -c) becomes the package's parent before
# any import of ours. -P would do the latter only from Python 3.11.
_CHILD_CODE = ("import sys; sys.path[0] = sys.argv[1]; from classifier.hub_child import main; "
               "main(sys.argv[2], sys.argv[3])")


def _start_child(model, revision):
    environment = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Plain HTTP with Range: the client resumes a cut file within its run.
    environment["HF_HUB_DISABLE_XET"] = "1"
    environment["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    seconds = str(max(1, round(deadline_seconds())))
    environment["HF_HUB_DOWNLOAD_TIMEOUT"] = seconds
    environment["HF_HUB_ETAG_TIMEOUT"] = seconds
    return subprocess.Popen(
        [sys.executable, "-E", "-c", _CHILD_CODE, package_root, model, revision or ""],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment,
        # Its own process group: Ctrl+C reaches the parent only, which stops the child itself.
        start_new_session=sys.platform != "win32",
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )


def _read_events(stream, events):
    for line in stream:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.put(event)
    events.put({"eof": True})


def _stop_child(child):
    if child.poll() is None:
        try:
            child.kill()
        except OSError:
            pass
    for stream in (child.stdin, child.stdout):
        try:
            stream.close()
        except OSError:
            pass
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class _Watch:
    """Bytes of the planned files (on disk and off the network), their speed, and the hub's silences."""

    def __init__(self, progress, storage, locks):
        self.progress = progress
        self.blobs = os.path.join(storage, "blobs")
        self.locks = locks
        self.files = None  # [(blob name, size)] once the child has listed the repository
        self.listed = None  # {name: {"blob", "size"}}: what each file's content must hash to
        self.commit = None  # the 40-hex commit the child resolved and checked: the snapshot's name
        self.announced = False
        self.start_time = time.monotonic()
        self.last = self.start_time
        self.stalls = 0  # silences, across attempts; a byte of a file ends the series
        self.stalls_this_attempt = 0
        self.ever_received = False
        self.done = self.base = self.network = self.highest = self.counted = 0
        self.samples = deque()
        self.state = None
        self.ended = False

    def attempt_started(self):
        self.last = time.monotonic()
        self.stalls_this_attempt = 0
        self.network = self.counted = 0
        if self.files is not None:
            self.base = hub_partial.complete_bytes(self.blobs, self.files)

    def clean(self):
        hub_partial.remove_dead(self.blobs, self.locks)

    def silent_for(self):
        return time.monotonic() - self.last

    def received(self, count, wait=None):
        """Bytes of files received by this attempt's child: the progress between the client's disk writes.
        wait: a short Retry-After the client is sleeping through: not a silence of the hub."""
        if count >= self.counted + MIN_PROGRESS_BYTES:  # a trickle of a byte now and then is no progress
            self.last = time.monotonic()
            self.stalls = self.stalls_this_attempt = 0
            self.counted = count
        self.ever_received = self.ever_received or count > 0
        self.network = count
        if wait:
            self.last = max(self.last, time.monotonic() + wait + 1)  # the client sleeps a second more

    def plan(self, files):
        """The files to fetch; a disk without room for them is refused before a byte comes.
        A listing is no byte of a file: the silences go on counting (a hub that lists and never serves)."""
        self.listed = {entry["path"]: {"blob": entry["blob"], "size": entry["size"]} for entry in files}
        self.files = [(entry["blob"], entry["size"]) for entry in files]
        self.base = self.done = hub_partial.complete_bytes(self.blobs, self.files)
        self.highest = self.on_disk()
        self.samples.clear()
        os.makedirs(self.blobs, exist_ok=True)
        needed = self.total - self.done
        free = shutil.disk_usage(self.blobs).free
        if needed > 0 and needed + DISK_MARGIN > free:
            return {"kind": "disk", "free": free, "needed": needed}
        return None

    @property
    def total(self):
        return sum(size for _, size in self.files or ())

    def announce(self, model):
        self.announced = True
        size = f" ({megabytes(self.total)} MB)" if self.total else ""
        kept = f"; ya había {megabytes(self.done)} MB de una vez anterior" if self.done >= 1e6 else ""
        self.progress.announce(
            f"Descargando el modelo {quoted(model)}{size} a {quoted(os.path.dirname(os.path.dirname(self.blobs)))}"
            f"{kept}. Solo ocurre la primera vez: después se usa esa copia, sin conexión."
        )

    def on_disk(self):
        return hub_partial.written_bytes(self.blobs, self.files or ())

    def _waiting(self, now):
        silent = now - self.last
        if silent < 0:
            return f"Hugging Face pidió esperar: se sigue en {duration(-silent)}…"
        if silent < WAIT_SHOWN_AFTER_S:
            return None
        what = "la lista de archivos" if self.files is None else "los datos"
        tries = f" (intento {self.stalls + 1} de {ATTEMPTS})" if self.stalls else ""
        return f"Esperando {what} de Hugging Face: {duration(silent)} sin respuesta{tries}…"

    def poll(self):
        now = time.monotonic()
        if self.files is None:  # still asking the hub what to fetch: a window says so already
            self.state = DownloadState(0, None, None, now - self.start_time, self._waiting(now))
            self.progress.advance(self.state)
            return
        on_disk = self.on_disk()
        # Bytes of the files reaching the disk, ours or another run's (same lock).
        if on_disk >= self.highest + MIN_PROGRESS_BYTES:
            self.highest = on_disk
            self.last = max(self.last, now)
            self.stalls = self.stalls_this_attempt = 0
        done = min(max(on_disk, self.base + self.network), self.total)
        self.done = done
        self.samples.append((now, done))
        while self.samples and now - self.samples[0][0] > SPEED_WINDOW_S:
            self.samples.popleft()
        first_time, first_done = self.samples[0]
        speed = max(done - first_done, 0) / (now - first_time) if now - first_time >= 0.5 else None
        self.state = DownloadState(done, self.total, speed, now - self.start_time, self._waiting(now))
        self.progress.advance(self.state)

    def finish(self, completed):
        if self.ended or self.state is None:
            return
        self.ended = True
        if completed:
            self.state = DownloadState(self.total, self.total, self.state.speed, time.monotonic() - self.start_time)
        self.progress.end(self.state, completed)


def _check_writable(cache):
    try:
        os.makedirs(cache, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ModelLoadError(hub_words.disk_sentence(cache, shutil.disk_usage(cache).free, None)) from None
        raise ModelLoadError(
            f"No se puede escribir en la caché de modelos {quoted(cache)} ({system_reason(exc)}): dé permiso de "
            "escritura a esa carpeta, o elija otra con la variable de entorno HF_HOME (por ejemplo, "
            "HF_HOME=~/hf python script_modelo.py)."
        ) from None
