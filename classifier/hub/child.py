"""The download child: lists the files, tells the parent (one JSON line each), downloads them.

Started by hub._start_child with an isolated path. The parent watches the disk and our
lines; every answer of the hub passes checks.Guard before the client acts on it.
"""

import errno
import json
import signal
import sys
import threading
import time
import traceback
import urllib.parse

from classifier.base.errors import system_reason
from classifier.hub.checks import Guard, RateLimited, UnsafeHub, retry_after
from classifier.hub.settings import HUB_IGNORED, HUB_PATTERNS, POLL_S, deadline_seconds, endpoint, no_agent_registry

_TELL_LOCK = threading.Lock()
MAX_PAGES = 1000  # a listing that points to itself ends
_RECEIVED = {"bytes": 0, "answers": 0, "wait": 0}


def main(model, revision):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us: Ctrl+C is its to handle
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    revision = revision or None
    try:
        no_agent_registry()
        guard = Guard(endpoint(), model, revision)
        _watch_answers(guard)
        _tell({"ready": True})
        threading.Thread(target=_report_received, daemon=True).start()
        commit = _resolve(model, revision, guard)
        files = _list_files(model, commit, guard)
        _tell({"plan": files, "commit": commit})
        from huggingface_hub import snapshot_download

        # The client asks for the revision again: the guard holds it to this commit, whatever the status.
        folder = snapshot_download(model, revision=revision, allow_patterns=HUB_PATTERNS, ignore_patterns=HUB_IGNORED)
        _tell({"done": folder})
    except BaseException as exc:  # noqa: BLE001 - every failure is told to the parent, in its kind
        _tell({"error": _classify(exc)})


def _exit_with_parent():
    # A parent killed outright closes our stdin: go too, rather than download for no one.
    try:
        sys.stdin.buffer.read()
    finally:
        import os

        os._exit(1)


def _tell(event):
    with _TELL_LOCK:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def _watch_answers(guard):
    """Check every answer (checks.Guard), and count the bytes of the files as they come off the
    network (a hook on the client's own session): the client writes to disk in 10 MB pieces, and
    the disk alone would show a slow link as a dead one. Error bodies (a 429's, a 404's) are not
    the files: they are not counted."""
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
        guard.check(response)
        if guard.waits:
            _RECEIVED["wait"] = guard.waits.pop()
        _RECEIVED["answers"] += 1
        if response.status_code in (200, 206) and "/api/" not in response.request.url.path:
            response.stream = Counted(response.stream)

    def on_request(request):
        request.headers["Accept-Encoding"] = "identity"  # the guard refuses a compressed answer

    session = get_session()
    hooks = session.event_hooks
    hooks["request"] = [*hooks.get("request", []), on_request]
    hooks["response"] = [*hooks.get("response", []), on_response]
    session.event_hooks = hooks


def _report_received():
    told = None
    while True:
        now = (_RECEIVED["bytes"], _RECEIVED["answers"], _RECEIVED["wait"])
        if now != told:
            told = now
            _tell({"bytes": now[0], "answers": now[1], "wait": now[2]})
            _RECEIVED["wait"] = 0
        time.sleep(POLL_S)


def _get(url, params=None):
    """One request, without the client's retries: a hub answering 503 is told at once, not after 25 s.
    The guard has checked the answer (whatever its status) before it comes back here."""
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    response = get_session().get(url, params=params, headers=build_hf_headers(), timeout=deadline_seconds())
    hf_raise_for_status(response)
    return response


def _resolve(model, revision, guard):
    """The revision as a checked 40-hex commit: the client builds snapshots/<commit> and refs/<revision>
    from the hub's answer (_snapshot_download.snapshot_download)."""
    from huggingface_hub import constants

    if guard.commit is None:
        _get(f"{constants.ENDPOINT}/api/models/{model}/revision/"
             f"{urllib.parse.quote(revision or constants.DEFAULT_REVISION, safe='')}")
    if guard.commit is None:
        raise UnsafeHub("no dijo el commit de la revisión")
    return guard.commit


def _list_files(model, commit, guard):
    """The files to fetch, with the blob names the cache stores them under and their sizes: every page
    of the listing (the hub paginates big repositories; the guard keeps each next page on its path)."""
    import fnmatch

    from huggingface_hub import constants

    url, params = f"{constants.ENDPOINT}/api/models/{model}/tree/{commit}", {"recursive": True}
    for _ in range(MAX_PAGES):
        response = _get(url, params)
        following = response.links.get("next", {}).get("url") if response.headers.get("Link") else None
        if following is None:
            break
        url, params = urllib.parse.urljoin(str(response.url), following), None
    else:
        raise UnsafeHub(f"su lista de archivos no termina (más de {MAX_PAGES} páginas)")
    return [{"path": name, "blob": info["blob"], "size": info["size"]}
            for name, info in guard.files.items()
            if any(fnmatch.fnmatch(name, pattern) for pattern in HUB_PATTERNS)
            and not any(fnmatch.fnmatch(name, pattern) for pattern in HUB_IGNORED)]


def _classify(exc):
    """An exception of the hub client -> a small dict the parent turns into a sentence."""
    import ssl

    import httpx2
    from huggingface_hub.errors import (
        FileMetadataError,
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RevisionNotFoundError,
    )

    chain = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for error in chain:
        if isinstance(error, UnsafeHub):
            return {"kind": "unsafe", "detail": str(error)}
        if isinstance(error, RateLimited):
            return {"kind": "rate_limited", "wait": error.wait}
        if isinstance(error, httpx2.TooManyRedirects):
            return {"kind": "redirects"}
    for error in chain:
        if isinstance(error, ssl.SSLError):  # an OSError whose errno 1 would read as EPERM below
            return {"kind": "tls", "verify": getattr(error, "verify_message", None)}
        if isinstance(error, httpx2.ProxyError):
            return {"kind": "proxy"}
        if isinstance(error, HfHubHTTPError) and error.response is not None and error.response.status_code == 429:
            return {"kind": "rate_limited", "wait": retry_after(error.response.headers)}  # our own listing's 429
        if isinstance(error, HfHubHTTPError) and error.response is not None:
            path = urllib.parse.unquote(error.response.request.url.path)
            missing = isinstance(error, RemoteEntryNotFoundError) or (
                "/resolve/" in path and error.response.status_code == 404)
            return {"kind": "http", "status": error.response.status_code,
                    "gated": isinstance(error, GatedRepoError), "revision": isinstance(error, RevisionNotFoundError),
                    "file": path.rsplit("/", 1)[-1] if missing else None,
                    "hub_said": error.response.headers.get("X-Error-Code") is not None}
        if isinstance(error, FileMetadataError):
            return {"kind": "not_hub"}
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return {"kind": "disk"}
        # A file the cache refused names its path; a socket's EPERM (a local firewall) names none.
        if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and \
                error.filename is not None:
            return {"kind": "unwritable", "reason": system_reason(error)}
        if isinstance(error, OSError) and "Consistency check failed" in str(error):
            return {"kind": "size"}  # the client's own words (file_download.http_get)
    for error in chain:
        broken = _broken_answer(error)
        if broken is not None:
            return broken
    for error in chain:
        if isinstance(error, (httpx2.TimeoutException, httpx2.RemoteProtocolError, httpx2.ReadError)):
            return {"kind": "stalled"}  # the parent tries again, resuming
        if isinstance(error, httpx2.ConnectError):
            return {"kind": "network"}
    first = chain[0]
    return {"kind": "bug", "detail": type(first).__name__, "trace": traceback.format_exc(limit=8)}


# What h11 (under httpx2) says of an answer it cannot read, in words. A connection cut midway is a
# silence, tried again; a malformed answer is the same on every try, so it is told at once.
_CUT = ("peer closed connection", "peer unexpectedly closed", "Can't receive data when peer state is ERROR")
_MALFORMED = (
    ("bad Content-Length", "una cabecera Content-Length que no es un número de bytes"),
    ("conflicting Content-Length", "dos cabeceras Content-Length distintas"),
    ("Transfer-Encoding", "una cabecera Transfer-Encoding que HTTP/1.1 no admite"),
    ("illegal header line", "una línea de cabecera mal formada"),
    ("continuation line", "una línea de cabecera mal formada"),
    ("Receive buffer too long", "cabeceras demasiado largas"),
    ("chunk", "un cuerpo por trozos (chunked) mal formado"),
)


def _broken_answer(error):
    """{"kind": "malformed", "what"} for an answer h11 refused to read, {"kind": "not_hub"} for one that
    is not HTTP at all (another service on that port); None for anything else (a cut is a silence)."""
    try:
        import h11
    except ImportError:
        return None
    if not isinstance(error, h11.RemoteProtocolError):
        return None
    text = str(error)
    if text.startswith(_CUT):
        return None
    if text.startswith(("illegal status line", "no response line")):
        return {"kind": "not_hub"}
    what = next((words for key, words in _MALFORMED if key in text), "una respuesta que no sigue el protocolo HTTP")
    return {"kind": "malformed", "what": what}
