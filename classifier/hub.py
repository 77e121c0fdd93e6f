"""Getting a model's files: a local folder, the Hugging Face cache, or a download from the hub.

The download runs in a child process (``python -m classifier.hub``) driven by the
real huggingface_hub client. The parent watches the bytes arriving on disk: that
gives the progress, and a deadline the client lacks (its listing requests have no
timeout at all, and a stalled connection can hang for hours). No byte for
CLASIFICADOR_HUB_PLAZO seconds (30 by default) ends the attempt: the child is
killed, and the next attempt resumes from the client's .incomplete file. A child
can always be killed; a thread stuck in a socket cannot.

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
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from collections import deque

from .defaults import DEFAULT_MODEL
from .errors import ModelLoadError, quoted, system_reason
from .files import kind_of

# Only these files are fetched from the hub: no pickle weights, no remote code.
HUB_PATTERNS = ["*.json", "*.safetensors"]
DEADLINE_VARIABLE = "CLASIFICADOR_HUB_PLAZO"
DEFAULT_DEADLINE_S = 30.0
ATTEMPTS = 3  # the first one and two retries, each resuming what the others left
POLL_S = 0.1
STARTUP_S = 30.0  # the child's own import, on a slow disk
SPEED_WINDOW_S = 5.0
DISK_MARGIN = 16 * 2**20  # room left for the filesystem's own needs: never fill a disk to the last byte
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


class DownloadProgress:
    """What a front-end is told of a download; this base shows nothing.

    announce(sentence): before anything moves (which model, how big, where to).
    advance(state): about ten times a second while downloading; a DownloadState.
    end(state, completed): once, when the download ends (completed False: failed or stopped).
    cancelled(): True when the user asked to stop (a window's Cancelar): the download
    then ends as Ctrl+C ends it, with KeyboardInterrupt.
    """

    def announce(self, sentence):
        pass

    def advance(self, state):
        pass

    def end(self, state, completed):
        pass

    def cancelled(self):
        return False


class DownloadState:
    """Bytes done of total, speed (bytes/s, None until measured) and seconds elapsed."""

    def __init__(self, done, total, speed, elapsed):
        self.done, self.total, self.speed, self.elapsed = done, total, speed, elapsed

    @property
    def connecting(self):
        """True before the hub has said which files, and how big: nothing to count yet."""
        return self.total is None

    @property
    def fraction(self):
        return min(self.done / self.total, 1.0) if self.total else 0.0

    @property
    def seconds_left(self):
        if not self.speed or self.total is None:
            return None
        return max(self.total - self.done, 0) / self.speed

    def amounts(self):
        """«123,4 de 346,0 MB»."""
        return f"{megabytes(self.done)} de {megabytes(self.total)} MB"

    def rate(self):
        """«5,2 MB/s», «340 kB/s», or «… MB/s» before the first measure."""
        return speed_text(self.speed) if self.speed is not None else "… MB/s"

    def time_left(self):
        """«quedan 1 min 05 s», or «calculando…»."""
        left = self.seconds_left
        return "calculando…" if left is None else f"quedan {duration(left)}"


def connecting_text():
    return f"Conectando con Hugging Face ({endpoint()})…"


def megabytes(count):
    """Bytes as MB (10^6, as the hub and disks count them) with one decimal and a decimal comma."""
    return f"{(count or 0) / 1e6:.1f}".replace(".", ",")


def speed_text(per_second):
    """«5,2 MB/s» from 1 MB/s up, «340 kB/s» below."""
    if round(per_second / 1e3) >= 1000:
        return f"{megabytes(per_second)} MB/s"
    return f"{round(per_second / 1e3)} kB/s"


def duration(seconds):
    """«45 s», «3 min 05 s», «1 h 02 min»."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def default_revision(model, revision):
    """None means the pinned commit for the default model (reproducible, safetensors), else the hub's main."""
    from .defaults import DEFAULT_REVISION

    return DEFAULT_REVISION if revision is None and model == DEFAULT_MODEL else revision


def deadline_seconds():
    """CLASIFICADOR_HUB_PLAZO seconds without a byte end an attempt (default 30); bad values mean the default."""
    try:
        value = float(os.environ.get(DEADLINE_VARIABLE, ""))
    except ValueError:
        return DEFAULT_DEADLINE_S
    return value if 0 < value < 86400 else DEFAULT_DEADLINE_S


# --- where the files are ----------------------------------------------------------------------------


def model_folder(model, revision, progress=None):
    """The folder holding the model's files: a local folder as given, else the hub's cache,
    downloading what is missing or damaged. ModelLoadError (a Spanish sentence) when that cannot be."""
    progress = progress or DownloadProgress()
    if os.path.isdir(model):
        return model
    not_folder = _not_a_folder(model)
    if not_folder is not None:  # a path that exists is never a hub id: no network
        raise ModelLoadError(not_folder)
    if looks_like_path(model):
        raise ModelLoadError(f"No existe la carpeta del modelo {quoted(model)}.")
    folder = cached_folder(model, revision)
    if folder is not None:
        damaged = damaged_files(model, revision, folder, check_contents=False)
        if not damaged:
            return folder
        return repair(model, revision, folder, progress, damaged)
    if is_offline() or not hub_reachable():
        raise ModelLoadError(offline_message(model))
    return download(model, revision, progress)


def cached_folder(model, revision):
    """The cached snapshot folder with every file, or None; an invalid id is refused in words."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, IncompleteSnapshotError, LocalEntryNotFoundError

    try:
        return snapshot_download(model, revision=revision, allow_patterns=HUB_PATTERNS, local_files_only=True)
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
    """Names of cached files whose size (and with check_contents, hash) disagrees with the hub's record.

    The record is the tree listing the hub client keeps with the cache; without it only
    the hashes that name the cache's blobs can be checked.
    """
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    try:
        sizes = {entry.path: entry.size for entry in get_cached_repo_tree(model, revision=revision)}
    except (CachedRepoTreeNotFoundError, OSError, ValueError, KeyError):
        sizes = {}
    damaged = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        try:
            size = os.stat(path).st_size
        except OSError:
            damaged.append(name)  # a link to a blob that is gone
            continue
        if name in sizes and sizes[name] is not None and size != sizes[name]:
            damaged.append(name)
        elif check_contents and not _content_matches_blob_name(path):
            damaged.append(name)
    return damaged


def _content_matches_blob_name(path):
    """The cache names a blob by its hash: sha256 for large (LFS) files, git's sha1 for small ones."""
    blob = os.path.basename(os.path.realpath(path))
    if _SHA256.fullmatch(blob):
        digest = hashlib.sha256()
    elif _SHA1.fullmatch(blob):
        digest = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    else:
        return True  # a copy, not a link (Windows without symlinks): only its size can be checked
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest() == blob


def repair(model, revision, folder, progress=None, damaged=None):
    """Download again the damaged files of a cached model, once; their names found by size,
    or (damaged None: the model failed to load) by hash. Returns the folder; ModelLoadError when
    nothing is damaged (the fault is elsewhere) or the hub cannot be reached."""
    progress = progress or DownloadProgress()
    if damaged is None:
        damaged = damaged_files(model, revision, folder, check_contents=True)
        if not damaged:
            return None
    listed = ", ".join(damaged)
    if is_offline() or not hub_reachable():
        raise ModelLoadError(
            f"Los archivos del modelo {quoted(model)} en la caché están dañados ({listed}) y no hay conexión "
            f"con Hugging Face para descargarlos de nuevo: borre la carpeta {quoted(repo_folder(model))} y "
            "ejecute el programa con conexión, o use --modelo CARPETA."
        )
    progress.announce(f"Los archivos del modelo {quoted(model)} en la caché están dañados ({listed}): "
                      "se descargan de nuevo.")
    for name in damaged:
        path = os.path.join(folder, name)
        blob = os.path.realpath(path)
        for stale in {path, blob}:
            try:
                os.remove(stale)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ModelLoadError(
                    f"No se pudo borrar el archivo dañado {quoted(stale)} de la caché ({system_reason(exc)}): "
                    f"borre la carpeta {quoted(repo_folder(model))} y vuelva a ejecutar el programa."
                ) from None
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


def is_offline():
    from huggingface_hub import constants

    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def endpoint():
    from huggingface_hub import constants

    return constants.ENDPOINT


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


def offline_message(model):
    return (
        f"No se pudo descargar el modelo {quoted(model)}: no hay conexión con Hugging Face ({endpoint()}) y el "
        "modelo no está en la caché de este equipo. Conéctese a internet y ejecute el programa una vez "
        "(la descarga queda guardada), o traiga la carpeta del modelo de un equipo que lo tenga (docs/descarga.md) y "
        "use --modelo CARPETA."
    )


# --- the download, seen from the parent ---------------------------------------------------------------


def download(model, revision, progress, announce=True):
    """Download the model's files into the cache with deadlines and retries; returns the snapshot folder.

    A silence of the deadline (no byte of a file, or no answer to the listing) is one failed attempt.
    Mid-file the client itself tries again, resuming with a Range request (its read timeout is our
    deadline); before the files, or when the client has given up, a new child starts. ATTEMPTS
    silences in a row, and the download gives up.
    """
    from huggingface_hub import constants

    cache = constants.HF_HUB_CACHE
    _check_writable(cache)
    watch = _Watch(progress, repo_folder(model))
    completed = False
    try:
        while True:
            outcome = _attempt(model, revision, watch, announce)
            if outcome.folder is not None:
                completed = True
                return outcome.folder
            if outcome.error is not None:
                raise ModelLoadError(_error_sentence(model, revision, outcome.error, watch, cache))
            if watch.stalls >= ATTEMPTS:
                raise ModelLoadError(
                    f"No se pudo descargar el modelo {quoted(model)}: Hugging Face ({endpoint()}) dejó de enviar "
                    f"datos durante {duration(deadline_seconds())}, {ATTEMPTS} veces seguidas. Compruebe la conexión "
                    "y vuelva a ejecutar el programa."
                )
    finally:
        watch.finish(completed)


class _Outcome:
    def __init__(self, folder=None, error=None):
        self.folder, self.error = folder, error


def _attempt(model, revision, watch, announce):
    """One child process: its folder, its error, or neither (it stalled: the caller decides whether to go on)."""
    leftovers = watch.temporary_files()
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
                    problem = watch.plan(event["plan"])
                    if problem is not None:
                        return _Outcome(error=problem)
                    if announce and not watch.announced:
                        watch.announce(model)
                elif "bytes" in event:
                    watch.received(event["bytes"])
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
        watch.remove_temporary_files(leftovers)


def _start_child(model, revision):
    environment = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    # Plain HTTP with Range: the client resumes a cut file within its run.
    environment["HF_HUB_DISABLE_XET"] = "1"
    environment["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    seconds = str(max(1, round(deadline_seconds())))
    environment["HF_HUB_DOWNLOAD_TIMEOUT"] = seconds
    environment["HF_HUB_ETAG_TIMEOUT"] = seconds
    environment["PYTHONIOENCODING"] = "utf-8"
    return subprocess.Popen(
        [sys.executable, "-m", "classifier.hub", model, revision or ""],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment,
        # Its own process group: Ctrl+C reaches the parent only, which stops the child itself.
        start_new_session=sys.platform != "win32",
        creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
    )


def _read_events(stream, events):
    for line in stream:
        try:
            events.put(json.loads(line))
        except ValueError:
            continue
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

    def __init__(self, progress, storage):
        self.progress = progress
        self.blobs = os.path.join(storage, "blobs")
        self.files = None  # [(blob name, size)] once the child has listed the repository
        self.announced = False
        self.start_time = time.monotonic()
        self.last = self.start_time
        self.stalls = 0  # silences in a row, across attempts; a byte of a file ends the series
        self.stalls_this_attempt = 0
        self.done = self.base = self.network = 0
        self.samples = deque()
        self.state = None
        self.ended = False

    def attempt_started(self):
        self.last = time.monotonic()
        self.stalls_this_attempt = 0
        self.network = 0
        if self.files is not None:
            self.base = self._measure()

    def silent_for(self):
        return time.monotonic() - self.last

    def _heard(self):
        self.last = time.monotonic()
        self.stalls = self.stalls_this_attempt = 0

    def received(self, count):
        """Bytes of files received by this attempt's child: the progress between the client's disk writes."""
        if count > self.network:
            self._heard()
        self.network = count

    def plan(self, files):
        """The files to fetch; a disk without room for them is refused before a byte comes."""
        self._heard()
        self.files = [(entry["blob"], entry["size"]) for entry in files]
        self.base = self.done = self._measure()
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

    def temporary_files(self):
        """The client's temporary files (BLOB.xxxxxxxx.incomplete) of the planned files now in the cache."""
        try:
            names = os.listdir(self.blobs)
        except OSError:
            return set()
        return {name for name in names if name.endswith(".incomplete")}

    def remove_temporary_files(self, before):
        """A killed child cannot delete its temporary file (the client does, when it fails on its own)."""
        for name in self.temporary_files() - before:
            try:
                os.remove(os.path.join(self.blobs, name))
            except OSError:
                pass

    def on_disk(self):
        return self._measure()

    def _measure(self):
        """Bytes of the planned files on disk: the complete ones, and what the client has written of the others."""
        try:
            names = os.listdir(self.blobs)
        except OSError:
            names = []
        done = 0
        for blob, size in self.files or ():
            if blob in names:
                done += size
                continue
            for name in names:
                if name.startswith(blob + ".") and name.endswith(".incomplete"):
                    try:
                        done += min(os.stat(os.path.join(self.blobs, name)).st_size, size)
                    except OSError:
                        pass
                    break
        return done

    def poll(self):
        now = time.monotonic()
        if self.files is None:  # still asking the hub what to fetch: a window says so already
            self.state = DownloadState(0, None, None, now - self.start_time)
            self.progress.advance(self.state)
            return
        done = min(max(self._measure(), self.base + self.network), self.total)
        self.done = done
        self.samples.append((now, done))
        while self.samples and now - self.samples[0][0] > SPEED_WINDOW_S:
            self.samples.popleft()
        first_time, first_done = self.samples[0]
        speed = max(done - first_done, 0) / (now - first_time) if now - first_time >= 0.5 else None
        self.state = DownloadState(done, self.total, speed, now - self.start_time)
        self.progress.advance(self.state)

    def finish(self, completed):
        if self.ended or self.state is None:
            return
        self.ended = True
        if completed:
            self.state = DownloadState(self.total, self.total, self.state.speed, time.monotonic() - self.start_time)
        self.progress.end(self.state, completed)


def _proxy():
    """The proxy the client uses for the hub, as scheme://host:port (never its password); None without one."""
    import urllib.request

    address = urllib.parse.urlsplit(endpoint())
    if address.hostname and urllib.request.proxy_bypass_environment(address.hostname):
        return None  # NO_PROXY names the hub
    names = ("HTTPS_PROXY", "https_proxy") if address.scheme == "https" else ("HTTP_PROXY", "http_proxy")
    value = next((os.environ[name] for name in (*names, "ALL_PROXY", "all_proxy") if os.environ.get(name)), None)
    if value is None:
        return None
    proxy = urllib.parse.urlsplit(value if "://" in value else f"http://{value}")
    try:
        port = f":{proxy.port}" if proxy.port else ""
    except ValueError:
        port = ""
    return f"{proxy.scheme}://{proxy.hostname or ''}{port}"


def _check_writable(cache):
    try:
        os.makedirs(cache, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ModelLoadError(_disk_sentence(cache, shutil.disk_usage(cache).free, None)) from None
        raise ModelLoadError(
            f"No se puede escribir en la caché de modelos {quoted(cache)} ({system_reason(exc)}): dé permiso de "
            "escritura a esa carpeta, o elija otra con la variable de entorno HF_HOME (por ejemplo, "
            "HF_HOME=~/hf python script_modelo.py)."
        ) from None


def _disk_sentence(cache, free, needed):
    need = f" y hacen falta unos {megabytes(needed)} MB" if needed else ""
    return (f"No hay espacio en el disco para descargar el modelo: quedan {megabytes(free)} MB en {quoted(cache)}"
            f"{need}. Libere espacio o elija otra carpeta con la variable de entorno HF_HOME, y vuelva a "
            "ejecutar el programa.")


def _error_sentence(model, revision, error, watch, cache):
    kind = error.get("kind")
    if kind == "disk":
        free = error.get("free")
        if free is None:
            free = shutil.disk_usage(cache).free
        needed = error.get("needed", watch.total - watch.on_disk() if watch.files else None)
        return _disk_sentence(cache, free, needed)
    if kind == "proxy" or (kind == "http" and error.get("status") == 407) or (kind == "network" and _proxy()):
        where = f" ({_proxy()})" if _proxy() else ""
        return (f"El proxy{where} no dejó descargar el modelo {quoted(model)}: revise las variables HTTPS_PROXY "
                "y HTTP_PROXY o pregunte a quien administra su red.")
    if kind == "http":
        status = error.get("status")
        if status in (401, 403) or error.get("gated"):
            return (f"El modelo {quoted(model)} es privado o de acceso restringido en Hugging Face (error {status}): "
                    "acepte sus condiciones en su página e inicie sesión con «hf auth login», o use otro modelo.")
        if error.get("revision"):
            return f"La revisión «{revision}» no existe en el modelo {quoted(model)} (error {status})."
        if status == 404:
            return (f"El modelo {quoted(model)} no existe en Hugging Face (error 404): revise el nombre, "
                    "o use --modelo CARPETA.")
        if status is not None and status >= 500:
            return f"Hugging Face no está disponible ahora (error {status}): pruebe más tarde."
        return f"Hugging Face rechazó la descarga del modelo {quoted(model)} (error {status})."
    if kind == "network":
        return offline_message(model)
    if kind == "unwritable":
        return (f"No se puede escribir en la caché de modelos {quoted(cache)} ({error.get('reason')}): dé permiso "
                "de escritura a esa carpeta, o elija otra con la variable de entorno HF_HOME.")
    if kind == "not_hub":
        return (f"La dirección {endpoint()} (HF_ENDPOINT) no responde como Hugging Face: revise la variable "
                "HF_ENDPOINT o bórrela para usar huggingface.co.")
    return (f"No se pudo descargar el modelo {quoted(model)} (error inesperado: {error.get('detail', kind)}). "
            "Vuelva a ejecutar el programa: lo ya descargado se aprovecha.")


# --- the download, in the child ----------------------------------------------------------------------


def _child(model, revision):
    """List the files, tell the parent (one JSON line each), download them; the parent watches the disk."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us: Ctrl+C is its to handle
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    revision = revision or None
    try:
        _count_received_bytes()
        _tell({"ready": True})
        threading.Thread(target=_report_received, daemon=True).start()
        files = _list_files(model, revision)
        _tell({"plan": files})
        from huggingface_hub import snapshot_download

        folder = snapshot_download(model, revision=revision, allow_patterns=HUB_PATTERNS)
        _tell({"done": folder})
    except BaseException as exc:  # noqa: BLE001 - every failure is told to the parent, in its kind
        _tell({"error": _classify(exc)})


def _exit_with_parent():
    # A parent killed outright closes our stdin: go too, rather than download for no one.
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(1)


_TELL_LOCK = threading.Lock()
_RECEIVED = {"bytes": 0, "answers": 0}


def _tell(event):
    with _TELL_LOCK:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def _count_received_bytes():
    """Count the bytes of every file as they come off the network (a hook on the client's own session).

    The client writes to disk in 10 MB pieces: the disk alone would show a slow link as a dead one.
    """
    import httpx2
    from huggingface_hub.utils import get_session

    class Counted(httpx2.SyncByteStream):
        def __init__(self, inner):
            self.inner = inner

        def __iter__(self):
            for chunk in self.inner:
                _RECEIVED["bytes"] += len(chunk)
                yield chunk

        def close(self):
            self.inner.close()

    def on_response(response):
        _RECEIVED["answers"] += 1  # headers are a sign of life too
        if not response.request.url.path.startswith("/api/"):  # listings are not the files
            response.stream = Counted(response.stream)

    session = get_session()
    hooks = session.event_hooks
    hooks["response"] = [*hooks.get("response", []), on_response]
    session.event_hooks = hooks


def _report_received():
    told = None
    while True:
        now = (_RECEIVED["bytes"], _RECEIVED["answers"])
        if now != told:
            told = now
            _tell({"bytes": now[0], "answers": now[1]})
        time.sleep(POLL_S)


def _list_files(model, revision):
    """The files to fetch, with the blob names the cache stores them under and their sizes.

    One request, without the client's retries: a hub answering 503 is told at once, not after 25 s.
    """
    import fnmatch

    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = (f"{constants.ENDPOINT}/api/models/{model}/tree/"
           f"{urllib.parse.quote(revision or constants.DEFAULT_REVISION, safe='')}")
    response = get_session().get(url, params={"recursive": True}, headers=build_hf_headers(),
                                 timeout=deadline_seconds())
    hf_raise_for_status(response)
    files = []
    for entry in response.json():
        if entry.get("type") != "file" or not any(fnmatch.fnmatch(entry["path"], p) for p in HUB_PATTERNS):
            continue
        lfs = entry.get("lfs") or {}
        files.append({"path": entry["path"], "blob": lfs.get("oid") or entry["oid"],
                      "size": lfs.get("size") or entry["size"]})
    return files


def _classify(exc):
    """An exception of the hub client -> a small dict the parent turns into a sentence."""
    import httpx2
    from huggingface_hub.errors import (
        FileMetadataError,
        GatedRepoError,
        HfHubHTTPError,
        RevisionNotFoundError,
    )

    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for error in chain:
        if isinstance(error, httpx2.ProxyError):
            return {"kind": "proxy"}
        if isinstance(error, HfHubHTTPError) and error.response is not None:
            return {"kind": "http", "status": error.response.status_code,
                    "gated": isinstance(error, GatedRepoError), "revision": isinstance(error, RevisionNotFoundError)}
        if isinstance(error, FileMetadataError):
            return {"kind": "not_hub"}
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return {"kind": "disk"}
        if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return {"kind": "unwritable", "reason": system_reason(error)}
    for error in chain:
        if isinstance(error, (httpx2.TimeoutException, httpx2.RemoteProtocolError, httpx2.ReadError)):
            return {"kind": "stalled"}  # the parent tries again, resuming
        if isinstance(error, httpx2.ConnectError):
            return {"kind": "network"}
    first = chain[0]
    return {"kind": "bug", "detail": type(first).__name__, "trace": traceback.format_exc(limit=8)}


if __name__ == "__main__":
    _child(*sys.argv[1:3])
