"""The download from the hub, watched from the parent.

The download runs in a child process (child.py, started with an isolated path)
driven by the real huggingface_hub client; everything the hub says is checked there
(checks.py) before the client acts on it. The parent watches the bytes arriving:
that gives the progress, and a deadline the client lacks (its listing requests have no
timeout at all, and a stalled connection can hang for hours). No byte for
CLASIFICADOR_HUB_PLAZO seconds (30 by default) ends the attempt: the child is killed,
its partial file removed (partial.py), and the next attempt starts that file again
(the client 2.5 resumes only within one process). A child can always be killed; a
thread stuck in a socket cannot.

Nothing here prints: what happens is told to a DownloadProgress that the front-end
gives (a terminal line, plain lines, a window).
"""

import errno
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque

from classifier.base.errors import DownloadInterrupted, ModelLoadError, quoted, system_reason
from classifier.hub import partial as hub_partial
from classifier.hub import words as hub_words
from classifier.hub.cache import (
    content_matches,
    locks_folder,
    refuse_links_outside,
    refuse_planted_links,
    remove_cached,
    repo_folder,
)
from classifier.hub.checks import shown
from classifier.hub.download_progress import DownloadState, duration, megabytes
from classifier.hub.settings import ATTEMPTS, POLL_S, deadline_seconds, endpoint_usable, hub_url

STARTUP_S = 30.0  # the child's own import, on a slow disk
SPEED_WINDOW_S = 5.0
DISK_MARGIN = 16 * 2**20  # room left for the filesystem's own needs: never fill a disk to the last byte
WAIT_SHOWN_AFTER_S = 3.0  # a window says what it waits for once the silence is noticeable
MIN_PROGRESS_BYTES = 4096  # per deadline: a slower link (a trickle, 136 B/s at 30 s) counts as silent


def download(model, revision, progress, announce=True):
    """Download the model's files into the cache with deadlines and retries; returns the snapshot folder.

    A silence of the deadline (no byte of a file, or no answer to the listing) is one failed attempt.
    Mid-file the client itself tries again, resuming with a Range request (its read timeout is our
    deadline); before the files, or when the client has given up, a new child starts. ATTEMPTS
    silences, counted across children (a new listing is no progress), and the download gives up.
    """
    from huggingface_hub import constants

    cache = constants.HF_HUB_CACHE
    endpoint_usable()
    refuse_planted_links(model)
    _check_writable(cache)
    watch = _Watch(progress, repo_folder(model), locks_folder(model))
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

def _check_contents(model, folder, watch):
    """The folder is the snapshot of the commit the child checked, every planned file is there, and its
    content is the hash the listing promised; one that is not goes, with a sentence."""
    expected = os.path.join(repo_folder(model), "snapshots", watch.commit or "")
    if not watch.commit or os.path.normpath(os.path.abspath(folder)) != os.path.normpath(expected):
        raise ModelLoadError(hub_words.error_sentence(model, None, {"kind": "unsafe", "detail": (
            f"el cliente guardó el modelo en otra carpeta ({shown(folder)})")}, watch, None))
    refuse_links_outside(model, folder)
    missing = [name for name in (watch.listed or {}) if not os.path.lexists(os.path.join(folder, name))]
    if missing:
        raise ModelLoadError(
            f"Hugging Face ({hub_url()}) no envió todos los archivos del modelo {quoted(model)} que lista "
            f"({', '.join(shown(name) for name in missing)}). Vuelva a ejecutar el programa más tarde o use otro "
            "servidor (HF_ENDPOINT).")
    wrong = [name for name, expected in (watch.listed or {}).items()
             if not content_matches(os.path.join(folder, name), expected)]
    if wrong:
        remove_cached(model, folder, wrong)
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
_CHILD_CODE = ("import sys; sys.path[0] = sys.argv[1]; from classifier.hub.child import main; "
               "main(sys.argv[2], sys.argv[3])")

def _start_child(model, revision):
    environment = dict(os.environ)
    # classifier/hub/download.py -> the folder that holds classifier/ (three levels up)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
