"""A stand-in for the Hugging Face hub: http.server in a thread, on an ephemeral port.

It speaks what the real huggingface_hub 2.x client asks for a snapshot download:
GET /api/models/REPO/tree/REV (the listing, with LFS sizes and sha256), GET
/api/models/REPO/revision/REV (a branch name -> the commit), HEAD and GET
/REPO/resolve/REV/FILE with X-Repo-Commit, ETag / X-Linked-Etag and X-Linked-Size,
and Range requests (206) for resumed downloads. The client does the downloading:
point HF_ENDPOINT at hub.url.

Misbehaviours, as real networks have them: rate (bytes per second, a slow link),
hang (accepts every connection and never answers), status (every request answered
with it: 503, 401), cut_after (the first GET of the weights closes after that many
bytes), stall_after (the first GET of the weights stops sending after that many bytes).

Lies, as a hostile hub or mirror tells them (tests/test_hostile_hub.py): etags (file name ->
the ETag and X-Linked-Etag it is served with: a path, say), extra (file name -> bytes, listed
and served as well), tree (a function that rewrites the listing's entries: unsafe names, null
sizes), never_serve (the listing is answered, the files never are), retry_after (every file
answered 429 with that Retry-After), linked_size (file name -> the X-Linked-Size it claims),
listed_size (file name -> the size the listing claims), redirect_loop (every file redirects to
itself), unserved (names listed but answered 404 EntryNotFound), next_page (a URL the
listing says its next page is at, as a Link header), commit_header (the X-Repo-Commit the
files are served with), detour (every file redirects, relatively, to /desvio/NAME, where it is
served with its headers: a mirror's own paths), content_length (file name -> the Content-Length header
it is served with, as given: "-5" is no HTTP), chunked_body ((answer, bytes): that answer sent in chunks,
without a Content-Length, padded to that many bytes: "lista", the listing padded with JSON spaces; "404"
and "302" (to itself), the files' GETs answered so), tls (serve HTTPS with tests/fixtures/tls, a certificate
no system trusts: a school proxy that inspects connections, a mirror with its own), respond (a function
(handler, path, body) tried before anything else: True when it has answered; a hostile hub's own script).
"""

import hashlib
import http.server
import json
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

REVISION = "0123456789abcdef0123456789abcdef01234567"
LFS_SUFFIXES = (".safetensors", ".bin")
CHUNK = 16 * 1024


class FakeHub:
    def __init__(self, folder, repo_id="prueba/vit-diminuto", revision=REVISION, rate=None, hang=False,
                 status=None, cut_after=None, stall_after=None, port=0, etags=None, extra=None, tree=None,
                 never_serve=False, retry_after=None, linked_size=None, listed_size=None, redirect_loop=False,
                 unserved=(), next_page=None, commit_header=None, detour=False, content_length=None, chunked_body=None,
                 tls=False, respond=None):
        self.repo_id, self.revision = repo_id, revision
        self.rate, self.hang, self.status = rate, hang, status
        self.cut_after, self.stall_after = cut_after, stall_after
        self.etags, self.tree, self.never_serve = etags or {}, tree, never_serve
        self.retry_after, self.linked_size, self.listed_size = retry_after, linked_size or {}, listed_size or {}
        self.redirect_loop, self.unserved, self.next_page = redirect_loop, set(unserved), next_page
        self.commit_header, self.detour, self.respond = commit_header, detour, respond
        self.content_length, self.chunked_body = content_length or {}, chunked_body
        self.files = {}
        contents = {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir())}
        contents.update(extra or {})
        for name, data in contents.items():
            self.files[name] = {
                "data": data,
                "sha256": hashlib.sha256(data).hexdigest(),
                "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
                "lfs": name.endswith(LFS_SUFFIXES),
            }
        self.requests = []  # (method, path, Range header or None)
        self.released = threading.Event()  # set on stop: handlers that hang return
        self.lock = threading.Lock()
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            certificates = Path(__file__).parent / "fixtures" / "tls"
            context.load_cert_chain(certificates / "certificado.pem", certificates / "clave.pem")
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def weights(self):
        return next(name for name, info in self.files.items() if info["lfs"])

    def gets(self, name):
        """The Range header (or None) of each GET of that file, in order."""
        return [rng for method, path, rng in self.requests if method == "GET" and path.endswith("/" + name)]

    def env(self, home, deadline=None, base=None):
        """An environment for the program: this hub, a private HF_HOME, network allowed."""
        env = dict(os.environ if base is None else base)
        env.update(HF_ENDPOINT=self.url, HF_HOME=str(home), HF_HUB_OFFLINE="0", LC_ALL="C.UTF-8")
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(name, None)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        if deadline is not None:
            env["CLASIFICADOR_HUB_PLAZO"] = str(deadline)
        return env


class _Handler(http.server.BaseHTTPRequestHandler):
    hub = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body):
        hub = self.hub
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        with hub.lock:
            hub.requests.append((self.command, path, self.headers.get("Range")))
        if hub.respond is not None and hub.respond(self, path, body):
            return
        if hub.hang:
            hub.released.wait()
            self.close_connection = True
            return
        if hub.status is not None:
            return self._json({"error": f"status {hub.status}"}, hub.status)
        match = re.fullmatch(r"/api/models/(.+)/(tree|revision)/([^/]+)(/.*)?", path)
        if match:
            repo, kind, revision, _ = match.groups()
            if repo != hub.repo_id:
                return self._json({"error": "Repository not found"}, 404, "RepoNotFound")
            if revision not in (hub.revision, "main"):
                return self._json({"error": "Invalid rev id"}, 404, "RevisionNotFound")
            if kind == "revision":
                return self._json({"id": repo, "sha": hub.revision,
                                   "siblings": [{"rfilename": name} for name in hub.files]})
            entries = [self._tree_entry(name, info) for name, info in hub.files.items()]
            for entry in entries:
                if entry["path"] in hub.listed_size:
                    entry["size"] = hub.listed_size[entry["path"]]
                    if "lfs" in entry:
                        entry["lfs"]["size"] = hub.listed_size[entry["path"]]
            link = f'<{hub.next_page}>; rel="next"' if hub.next_page else None
            if hub.chunked_body and hub.chunked_body[0] == "lista":
                return self._chunked(200, [], json.dumps(entries).encode(), b" ")
            return self._json(hub.tree(entries) if hub.tree else entries, link=link)
        match = re.fullmatch(r"/desvio/(.+)", path)
        if match and match.group(1) in hub.files:
            return self._file(match.group(1), hub.files[match.group(1)], body)
        match = re.fullmatch(r"/(.+)/resolve/([^/]+)/(.+)", path)
        if not match:
            return self._json({"error": "not found"}, 404)
        repo, revision, name = match.groups()
        if repo != hub.repo_id:
            return self._json({"error": "Repository not found"}, 404, "RepoNotFound")
        if revision not in (hub.revision, "main"):
            return self._json({"error": "Invalid rev id"}, 404, "RevisionNotFound")
        if name not in hub.files or name in hub.unserved:
            return self._json({"error": "Entry not found"}, 404, "EntryNotFound")
        if body and hub.chunked_body and hub.chunked_body[0] in ("404", "302"):
            headers = [("X-Error-Code", "EntryNotFound")] if hub.chunked_body[0] == "404" else [("Location", self.path)]
            return self._chunked(int(hub.chunked_body[0]), headers, b"", b"x")
        if hub.never_serve:
            hub.released.wait()
            self.close_connection = True
            return
        if hub.retry_after is not None:
            self.send_response(429)
            self.send_header("Retry-After", str(hub.retry_after))
            data = b'{"error": "rate limited"}' * 64
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)
            return
        if hub.detour:
            self.send_response(307)
            self.send_header("Location", "/desvio/" + urllib.parse.quote(name))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if hub.redirect_loop:
            self.send_response(302)
            self.send_header("Location", self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._file(name, hub.files[name], body)

    @staticmethod
    def _tree_entry(name, info):
        entry = {"type": "file", "oid": info["oid"], "size": len(info["data"]), "path": name}
        if info["lfs"]:
            entry["lfs"] = {"oid": info["sha256"], "size": len(info["data"]), "pointerSize": 134}
        return entry

    def _json(self, payload, status=200, error_code=None, link=None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        if link:
            self.send_header("Link", link)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if error_code:
            self.send_header("X-Error-Code", error_code)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _chunked(self, status, headers, data, pad):
        """data after padding, chunk by chunk, hub.chunked_body[1] bytes in all, with no Content-Length."""
        self.send_response(status)
        for field, value in headers:
            self.send_header(field, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        left = self.hub.chunked_body[1] - len(data)
        try:
            while left > 0:
                piece = pad * min(2**20, left)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                left -= len(piece)
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data) if data else b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _file(self, name, info, body):
        hub = self.hub
        data = info["data"]
        start = 0
        rng = self.headers.get("Range")
        if rng:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
            start = int(match.group(1)) if match else 0
        part = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", hub.commit_header or hub.revision)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        if name in hub.etags:
            self.send_header("ETag", f'"{hub.etags[name]}"')
            self.send_header("X-Linked-Etag", f'"{hub.etags[name]}"')
        elif info["lfs"]:
            self.send_header("ETag", f'"{info["oid"]}"')
            self.send_header("X-Linked-Etag", f'"{info["sha256"]}"')
        else:
            self.send_header("ETag", f'"{info["oid"]}"')
        if info["lfs"] or name in hub.linked_size:
            self.send_header("X-Linked-Size", str(hub.linked_size.get(name, len(data))))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", hub.content_length.get(name, str(len(part))))
        self.end_headers()
        if not body:
            return
        limit = None
        stall = False
        if info["lfs"]:
            with hub.lock:
                if hub.cut_after is not None:
                    limit, hub.cut_after = hub.cut_after, None
                elif hub.stall_after is not None:
                    limit, hub.stall_after, stall = hub.stall_after, None, True
        sent = 0
        began = time.monotonic()
        try:
            while sent < len(part):
                if limit is not None and sent >= limit:
                    if stall:
                        hub.released.wait()
                    self.close_connection = True
                    return
                size = CHUNK if limit is None else min(CHUNK, limit - sent)
                self.wfile.write(part[sent:sent + size])
                self.wfile.flush()
                sent += size
                if hub.rate:
                    ahead = sent / hub.rate - (time.monotonic() - began)
                    if ahead > 0:
                        if hub.released.wait(ahead):
                            return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main(argv=None):
    """Serve a model folder as the stand-in hub until Ctrl+C (README: what the first run looks like)."""
    import argparse

    parser = argparse.ArgumentParser(description="Un hub de Hugging Face de prueba que sirve una carpeta de modelo.")
    parser.add_argument("carpeta")
    parser.add_argument("--repo", default="google/vit-base-patch16-224")
    parser.add_argument("--revision", default="3f49326eb077187dfe1c2a2bb15fbd74e6ab91e3")
    parser.add_argument("--mb-por-segundo", type=float, default=None, help="velocidad (por defecto: sin límite)")
    parser.add_argument("--puerto", type=int, default=8765)
    args = parser.parse_args(argv)
    hub = FakeHub(args.carpeta, repo_id=args.repo, revision=args.revision,
                  rate=args.mb_por_segundo * 1e6 if args.mb_por_segundo else None, port=args.puerto)
    print(f"HF_ENDPOINT={hub.url}  ({args.repo} en {args.revision}; Ctrl+C para terminar)", flush=True)
    try:
        hub.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub.server.server_close()


if __name__ == "__main__":
    main()
