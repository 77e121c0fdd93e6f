"""What a hub (or a mirror) says, checked before the hub client acts on it.

huggingface_hub 2.5 builds paths from the hub's words: `blobs/<ETag>` and the lock
`<ETag>.lock` (file_download._hf_hub_download_to_cache_dir), `snapshots/<commit>` from
X-Repo-Commit or the revision's "sha" (_snapshot_download.snapshot_download),
`.no_exist/<X-Repo-Commit>/<name>` (file_download._get_metadata_or_catch_error). None of
them is checked there. A hook on the client's own HTTP session (in the download child)
checks every answer before the client reads it: a listing of safe names, 40-hex oids,
64-hex sha256 and bounded sizes, and headers that carry exactly the hash the listing
promised. Anything else raises UnsafeHub, whose text is the Spanish detail, before a
byte is written.
"""

import posixpath
import re
import urllib.parse

HEX40 = re.compile(r"[0-9a-f]{40}")
HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_FILE_BYTES = 2**38  # 275 GB: far above any model file, far below what an int parser chokes on
MAX_ANSWER_BYTES = 2**26  # an API answer (a listing of many thousand files is a few MB)
MAX_OTHER_BYTES = 2**20  # an error's or a redirect's body: a page of words, read whole by the client
SHORT_WAIT_S = 30  # a Retry-After up to this long is waited for; a longer one is told to the user


class UnsafeHub(Exception):
    """The hub said something the client would turn into a path or a size we cannot trust."""


class RateLimited(Exception):
    """A 429 whose Retry-After is too long to wait for (None: the hub gave no usable wait)."""

    def __init__(self, wait):
        super().__init__(wait)
        self.wait = wait


def shown(value, limit=60, quotes=True):
    """A hub's value in a sentence: printable (no terminal escapes, no line breaks), and not a page long."""
    text = repr(value) if not isinstance(value, str) else value
    text = "".join(c if c.isprintable() else "?" for c in text)
    text = f"{text[:limit]}{'…' if len(text) > limit else ''}"
    return f"«{text}»" if quotes else text


def safe_name(name):
    """A repository path the cache may hold: relative, no '..', '.', empty part, backslash or drive."""
    if not isinstance(name, str) or not name or len(name) > 1000:
        return False
    if not name.isprintable():  # terminal escapes, line breaks: no file of a model has them
        return False
    if name.startswith("/") or "\\" in name or "\0" in name or re.match(r"^[A-Za-z]:", name):
        return False
    # A part longer than a file name may be (255 bytes on most systems) would fail in the client as an OSError.
    return all(part not in ("", ".", "..") and len(part.encode("utf-8", "replace")) <= 255
               for part in name.split("/"))


def _size(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FILE_BYTES:
        raise UnsafeHub(f"el tamaño de {what} en su lista de archivos no es un número de bytes válido ({shown(value)})")
    return value


def listed_files(entries):
    """The listing's files as {name: {"blob": hash the cache names it by, "size": bytes, "lfs": bool}}.

    Every entry is checked, wanted or not: the client caches the whole listing."""
    if not isinstance(entries, list):
        raise UnsafeHub("su lista de archivos no es una lista")
    files, folders = {}, set()  # a name both a file and a folder: the client fails on it (FileExistsError)
    for entry in entries:
        if not isinstance(entry, dict):
            raise UnsafeHub("su lista de archivos tiene una entrada que no es un archivo ni una carpeta")
        name = entry.get("path")
        if not safe_name(name):
            raise UnsafeHub(f"su lista de archivos nombra una ruta insegura ({shown(name)})")
        if entry.get("type") != "file":
            continue
        parts = name.split("/")
        above = ["/".join(parts[:index]) for index in range(1, len(parts))]
        if name in folders or any(folder in files for folder in above):
            raise UnsafeHub(f"su lista de archivos nombra {shown(name)} como archivo y como carpeta")
        folders.update(above)
        oid = entry.get("oid")
        if not isinstance(oid, str) or not HEX40.fullmatch(oid):
            raise UnsafeHub(f"el identificador de {shown(name)} en su lista no son 40 cifras hexadecimales "
                            f"({shown(oid)})")
        size = _size(entry.get("size"), shown(name))
        lfs = entry.get("lfs")
        if lfs is not None:
            sha = lfs.get("oid") if isinstance(lfs, dict) else None
            if not isinstance(sha, str) or not HEX64.fullmatch(sha):
                raise UnsafeHub(f"el sha256 de {shown(name)} en su lista no son 64 cifras hexadecimales "
                                f"({shown(sha)})")
            files[name] = {"blob": sha, "size": _size(lfs.get("size"), shown(name)), "lfs": True}
        else:
            files[name] = {"blob": oid, "size": size, "lfs": False}
    return files


def etag(value):
    """The client's reading of an ETag (file_download._normalize_etag)."""
    return None if value is None else value.lstrip("W/").strip('"')


def retry_after(headers):
    """Seconds a 429 asks to wait (a number, or an HTTP date as RFC 9110 allows), or None when it does not say."""
    import email.utils
    import time

    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit() and len(value) < 12:
        return int(value)
    try:
        return max(0, round(email.utils.parsedate_to_datetime(value).timestamp() - time.time()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _origin(address):
    """Scheme, host and port as HTTP compares them: a host in any case, a port written or implied."""
    try:
        port = address.port or {"http": 80, "https": 443}.get(address.scheme)
    except ValueError:
        port = None
    return address.scheme, (address.hostname or "").lower(), port


def _bound(response, limit, path):
    """Wrap the response's body so that reading past limit bytes raises UnsafeHub."""
    import httpx2

    class Bounded(httpx2.SyncByteStream):
        def __init__(self, inner):
            self.inner, self.count = inner, 0

        def __iter__(self):
            for chunk in self.inner:
                self.count += len(chunk)
                if self.count > limit:
                    raise UnsafeHub(f"su respuesta a {shown(path)} es demasiado grande (más de {limit // 2**20} MB)")
                yield chunk

        def close(self):
            self.inner.close()

    response.stream = Bounded(response.stream)


class Guard:
    """Checks each answer the client gets, against the first listing (our own request).

    An answer is judged by the request its redirect chain began with (a redirect off /api/ or
    /resolve/ to a mirror's own path is still that API answer or that file), and whatever its
    status below 400: the client reads the body of a 203 as it reads a 200's."""

    def __init__(self, endpoint, model, revision):
        address = urllib.parse.urlsplit(endpoint)
        self.endpoint, self.origin, self.prefix = endpoint, _origin(address), address.path.rstrip("/")
        self.model = model
        self.commit = revision if revision and HEX40.fullmatch(revision) else None
        self.files = None
        self.pages = {}  # the listing being read, page by page
        self.began = {}  # URL a redirect leads to -> the path its chain began with
        self.waits = []  # short Retry-After waits the client is sleeping through: the parent hears of them

    def _path(self, url):
        path = urllib.parse.unquote(url.path)
        return path[len(self.prefix):] if path.startswith(self.prefix) else path

    def check(self, response):
        status = response.status_code
        headers = response.headers
        if status == 429:
            from huggingface_hub.utils import parse_ratelimit_headers

            # The wait the client sleeps (utils._http._http_backoff_base): RateLimit's t when r=0, else Retry-After.
            limit = parse_ratelimit_headers(headers)
            wait = limit.reset_in_seconds if limit is not None and limit.remaining == 0 else retry_after(headers)
            if wait is None or wait > SHORT_WAIT_S:
                raise RateLimited(wait)
            self.waits.append(wait)
        path = self.began.pop(str(response.request.url), None) or self._path(response.request.url)
        # Every request asks for identity (hub_child): httpx would still inflate a gzip body, a 0.5 MB
        # answer becoming gigabytes on disk or in memory before any size is compared.
        encoding = headers.get("Content-Encoding", "").strip().lower()
        if status < 400 and encoding not in ("", "identity"):
            raise UnsafeHub(f"envió datos comprimidos ({shown(encoding)}) cuando se le pidieron sin comprimir")
        length = headers.get("Content-Length", "")
        if path.startswith("/api/") and length.isdigit() and int(length) > MAX_ANSWER_BYTES:
            raise UnsafeHub(f"su respuesta a {shown(path)} es demasiado grande ({length} bytes)")
        # Bodies read whole (an API answer, an error's words, a redirect's) are bounded as they come: a
        # chunked answer has no Content-Length to judge. A file's body the client bounds by its size.
        if path.startswith("/api/") or status >= 300:
            _bound(response, MAX_ANSWER_BYTES if path.startswith("/api/") else MAX_OTHER_BYTES, path)
        following = response.links.get("next", {}).get("url") if headers.get("Link") else None
        if following is not None and not self._ours(following):
            raise UnsafeHub(f"su lista de archivos sigue en otra dirección ({shown(following)})")
        commit = headers.get("X-Repo-Commit")
        if commit is not None and (not HEX40.fullmatch(commit) or (self.commit and commit != self.commit)):
            raise UnsafeHub(f"su cabecera X-Repo-Commit ({shown(commit)}) no es el commit pedido")
        if response.has_redirect_location:
            try:
                target = urllib.parse.urljoin(str(response.request.url), headers["Location"])
                scheme = urllib.parse.urlsplit(target).scheme
                urllib.parse.urlsplit(target).port  # noqa: B018 - raises on a bad port or bracket
            except ValueError:
                scheme = None
            if scheme not in ("http", "https"):
                raise UnsafeHub(f"redirige a una dirección que no es http ni https ({shown(headers['Location'])})")
            self.began[target] = path
            self.began[str(response.request.url.join(headers["Location"]))] = path
        elif status < 400 and path.startswith(f"/api/models/{self.model}/"):
            self._api(response, path, following is not None)
        # The client takes a file's ETag from a HEAD answer only (file_download.get_hf_file_metadata), after
        # relative redirects that may leave /resolve/ (a mirror's own paths): every HEAD answer is checked.
        if response.request.method == "HEAD" and status < 400:
            resolve = f"/{self.model}/resolve/"
            name = path[len(resolve):].partition("/")[2] if path.startswith(resolve) else None
            self._file_headers(name, headers)

    def _ours(self, url):
        """A next page of the listing stays on the endpoint and under the listing's own path: the client
        follows it, and a page the guard never saw would go unchecked. Dot segments are resolved first,
        as the HTTP client resolves them."""
        address = urllib.parse.urlsplit(urllib.parse.urljoin(self.endpoint + "/", url))
        path = posixpath.normpath(urllib.parse.unquote(address.path))
        return _origin(address) == self.origin and ".." not in path.split("/") and \
            path.startswith(f"{self.prefix}/api/models/{self.model}/tree/")

    def _api(self, response, path, more):
        response.read()
        try:
            body = response.json()
        except (ValueError, RecursionError):  # a listing nested thousands deep is no listing
            raise UnsafeHub("su respuesta no es JSON válido") from None
        if "/revision/" in path:
            sha = body.get("sha") if isinstance(body, dict) else None
            if not isinstance(sha, str) or not HEX40.fullmatch(sha):
                raise UnsafeHub(f"el commit de la revisión ({shown(sha)}) no son 40 cifras hexadecimales")
            if self.commit and sha != self.commit:
                raise UnsafeHub(f"el commit de la revisión ({shown(sha)}) cambió de una petición a otra")
            self.commit = sha
        elif "/tree/" in path:
            # Every listing, all its pages together, must be the first one: the client caches its own
            # (trees/<commit>.json) and fetches what it lists.
            self.pages.update(listed_files(body))
            if more:
                return
            listing, self.pages = self.pages, {}
            if self.files is None:
                self.files = listing
            elif listing != self.files:
                raise UnsafeHub("su lista de archivos cambió de una petición a otra")

    def _file_headers(self, name, headers):
        # The client takes the size from X-Linked-Size, else Content-Length (file_download.get_hf_file_metadata).
        for field in ("X-Linked-Size", "Content-Length"):
            size = headers.get(field)
            if size is not None and not (size.isdigit() and int(size) <= MAX_FILE_BYTES):
                raise UnsafeHub(f"el tamaño {field} de {shown(name or 'un archivo')} ({shown(size)}) no es un número "
                                "de bytes válido")
        used = headers.get("X-Linked-Etag") or headers.get("ETag")
        if used is None:
            return  # the client refuses an answer without one itself
        if name is None:  # an answer after a redirect: it must still be the hash of a listed file
            if etag(used) not in {info["blob"] for info in (self.files or {}).values()}:
                raise UnsafeHub(f"la etiqueta ETag de una respuesta ({shown(etag(used))}) no es ningún hash de su "
                                "lista")
            return
        expected = (self.files or {}).get(name)
        if expected is None:
            raise UnsafeHub(f"sirve un archivo que no estaba en su lista ({shown(name)})")
        if etag(used) != expected["blob"]:
            raise UnsafeHub(f"la etiqueta ETag de {shown(name)} ({shown(etag(used))}) no es el hash de su lista")

