# ruff: noqa: F811 - medium_model_dir is test_hub's fixture, imported to be shared
"""A hub or mirror that lies (issue 25): the real huggingface_hub client against tests/fakehub.py
in its misbehaviour modes, and the real program in a process (the hub's settings are read at
import, and the download is a child process). Nothing outside the model's cache folder is ever
written; every run ends, in one Spanish sentence.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakehub import REVISION, FakeHub
from test_hub import medium_expected, medium_model_dir  # noqa: F401

from conftest import PHOTOS, REPO

PHOTO = str(PHOTOS[0])
SCRIPT = str(REPO / "script_modelo.py")


def _run(env, model, cwd=REPO, timeout=120, *args):
    return subprocess.run([sys.executable, SCRIPT, "--modelo", str(model), "--revision", REVISION, "-k", "3", *args,
                           PHOTO], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _tree(folder):
    """Every path under folder with its bytes (links as their target): what must not change."""
    found = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_symlink():
            found[str(path)] = ("->", os.readlink(path))
        elif path.is_file():
            found[str(path)] = path.read_bytes()
        else:
            found[str(path)] = "dir"
    return found


@pytest.fixture()
def home(tmp_path):
    """A fake home with a user's files, beside the cache (tmp_path/hf)."""
    folder = tmp_path / "home"
    (folder / ".config").mkdir(parents=True)
    (folder / ".bashrc").write_text("alias ll='ls -l'\n")
    (folder / "tesis.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20)
    return folder


@pytest.fixture()
def expected(tiny_model_dir):
    done = subprocess.run([sys.executable, SCRIPT, "--modelo", str(tiny_model_dir), "-k", "3", PHOTO], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _refused(done, *words):
    """One sentence on stderr (after the download's announcement, if it came), naming what went wrong."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines and lines[-1].startswith("Error: "), done.stderr
    assert all(line.startswith("Descargando") for line in lines[:-1]), done.stderr  # the announcement, progress
    for word in words:
        assert word in lines[-1], lines[-1]
    return lines[-1]


def _blob_folder(tmp_path, hub):
    return tmp_path / "hf" / "hub" / f"models--{hub.repo_id.replace('/', '--')}" / "blobs"


# --- what the hub says is checked before a byte is written ---------------------------------------------


@pytest.mark.parametrize("how", ["absoluta", "trepa"])
def test_etags_that_are_paths_are_refused_and_user_files_stay_byte_for_byte(tiny_model_dir, tmp_path, home, how):
    user_file = home / "tesis.pdf"
    blobs_depth = 4  # hf/hub/models--…/blobs
    etag = str(user_file) if how == "absoluta" else "../" * blobs_depth + "home/tesis.pdf"
    before = _tree(home)
    with FakeHub(tiny_model_dir, etags={"model.safetensors": etag}) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "ETag", "model.safetensors")
    assert _tree(home) == before
    assert not list(_blob_folder(tmp_path, hub).glob("*tesis*"))


def test_an_etag_after_a_redirect_is_checked_too(tiny_model_dir, tmp_path, home, expected):
    """The client follows a relative redirect and takes the ETag from where it lands, off /resolve/."""
    with FakeHub(tiny_model_dir, detour=True) as hub:
        honest = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    assert honest.returncode == 0 and honest.stdout == expected, honest.stderr
    with FakeHub(tiny_model_dir, detour=True, etags={"config.json": "../../../../home/.bashrc"}) as hub:
        before = _tree(home)
        done = _run(hub.env(tmp_path / "hf2"), hub.repo_id)
    _refused(done, "no es de fiar", "ETag de «config.json»", "no es el hash de su lista")  # the chain's file
    assert _tree(home) == before


def test_an_extra_listed_file_climbing_into_a_fake_home_writes_nothing_there(tiny_model_dir, tmp_path, home):
    evil = "../../../../home/.config/autostart/evil.desktop"
    with FakeHub(tiny_model_dir, extra={"zz_extra.json": b"[Desktop Entry]\nExec=rm -rf ~\n"},
                 etags={"zz_extra.json": evil}) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "zz_extra.json")
    assert not (home / ".config" / "autostart").exists()


@pytest.mark.parametrize("name", ["../../../home/fuera.json", "/tmp/absoluta.json", "carpeta\\otra.json",
                                  "doble//barra.json", "./punto.json"])
def test_unsafe_names_in_the_listing_are_refused(tiny_model_dir, tmp_path, name):
    def lie(entries):
        return [*entries, {**entries[0], "path": name}]

    with FakeHub(tiny_model_dir, tree=lie) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "ruta insegura")
    assert not (tmp_path / "home").exists() and not Path("/tmp/absoluta.json").exists()


@pytest.mark.parametrize("size", [None, "12", -1, 2**40, 2**70, True])
def test_sizes_that_are_not_byte_counts_are_refused_in_a_sentence(tiny_model_dir, tmp_path, size):
    def lie(entries):
        for entry in entries:
            entry["size"] = size
            if "lfs" in entry:
                entry["lfs"]["size"] = size
        return entries

    with FakeHub(tiny_model_dir, tree=lie) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "tamaño")


@pytest.mark.parametrize("field", ["oid", "lfs"])
def test_hashes_that_are_not_hex_are_refused(tiny_model_dir, tmp_path, field):
    def lie(entries):
        for entry in entries:
            if field == "oid":
                entry["oid"] = "../../../x"
            elif "lfs" in entry:
                entry["lfs"]["oid"] = "/etc/passwd"
        return entries

    with FakeHub(tiny_model_dir, tree=lie) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "hexadecimales")


@pytest.mark.parametrize("commit", ["../../../../home/fuera", "f" * 40])
def test_a_commit_header_that_is_not_the_commit_asked_for_is_refused(tiny_model_dir, tmp_path, home, commit):
    """X-Repo-Commit names snapshots/<commit> (and .no_exist/<commit>) for the client: a path, or another commit."""
    with FakeHub(tiny_model_dir, commit_header=commit) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "X-Repo-Commit")
    assert not (home / "fuera").exists()
    assert not list((tmp_path / "hf" / "hub").glob("models--*/snapshots/" + "f" * 40))


def test_a_listing_whose_next_page_is_elsewhere_is_refused(tiny_model_dir, tmp_path):
    """The client follows a listing's Link header wherever it points; a page the checks never saw is refused."""
    with FakeHub(tiny_model_dir, next_page="http://127.0.0.1:9/otra/lista?cursor=1") as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "sigue en otra dirección")


# --- deadlines that always end ------------------------------------------------------------------------


def test_files_that_never_come_end_after_three_tries(tiny_model_dir, tmp_path):
    """A firewall that lets the API through and blocks the files: each child lists anew, which is no progress."""
    with FakeHub(tiny_model_dir, never_serve=True) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=2), hub.repo_id, timeout=90)
        heads = [path for method, path, _ in hub.requests if "/resolve/" in path]
    line = _refused(done, "dio la lista de sus archivos pero no envió ninguno", "3 veces")
    assert "cortafuegos" in line
    assert heads  # the files were asked for, by each of the tries


def test_a_429_with_a_long_retry_after_is_told_with_its_wait(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir, retry_after=3600) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=5), hub.repo_id, timeout=90)
    _refused(done, "pidió esperar 1 h 00 min", "error 429")
    assert not list(_blob_folder(tmp_path, hub).glob("*"))  # the 429 bodies were never a file


def test_a_redirect_loop_is_named(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir, redirect_loop=True) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id, timeout=90)
    _refused(done, "bucle de redirecciones", "HF_ENDPOINT")


# --- sizes and contents --------------------------------------------------------------------------------


def test_a_size_claim_that_disagrees_with_the_body_is_named(tiny_model_dir, tmp_path):
    weights = (tiny_model_dir / "model.safetensors").stat().st_size
    with FakeHub(tiny_model_dir, linked_size={"model.safetensors": weights + 1000}) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id, timeout=90)
    _refused(done, "anunció un tamaño", "envió otro")


def test_a_listing_size_that_differs_from_the_file_is_checked_by_content(tiny_model_dir, tmp_path, expected):
    """The file's sha256 is the listing's: it is good whatever size the hub claimed, online and offline."""
    weights = (tiny_model_dir / "model.safetensors").stat().st_size
    with FakeHub(tiny_model_dir, listed_size={"model.safetensors": weights + 7}) as hub:
        env = hub.env(tmp_path / "hf")
        first = _run(env, hub.repo_id)
        assert first.returncode == 0 and first.stdout == expected, first.stderr
        again = _run(env, hub.repo_id)
        assert again.returncode == 0 and again.stdout == expected and again.stderr == ""
    env["HF_HUB_OFFLINE"] = "1"
    offline = _run(env, hub.repo_id)
    assert offline.returncode == 0 and offline.stdout == expected and offline.stderr == ""


def test_a_cache_entry_that_points_outside_is_never_followed(tiny_model_dir, tmp_path, home, expected):
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path / "hf")
        assert _run(env, hub.repo_id).returncode == 0
        snapshot = tmp_path / "hf" / "hub" / f"models--{hub.repo_id.replace('/', '--')}" / "snapshots" / REVISION
        (snapshot / "config.json").unlink()
        (snapshot / "config.json").symlink_to(home / ".bashrc")
        before = _tree(home)
        done = _run(env, hub.repo_id)
    line = _refused(done, "apunta fuera de su carpeta", "config.json", "borre ese enlace (solo el enlace")
    assert str(snapshot.parent.parent) in line
    assert _tree(home) == before


# --- the causes, named -----------------------------------------------------------------------------------


def test_a_listed_file_the_hub_does_not_serve_is_not_a_missing_model(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir, unserved={"preprocessor_config.json"}) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    line = _refused(done, "preprocessor_config.json", "no lo sirve")
    assert "no existe" not in line


def test_an_endpoint_with_a_path_is_not_a_missing_model(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path / "hf")
        env["HF_ENDPOINT"] = hub.url + "/espejo"
        done = _run(env, hub.repo_id)
    line = _refused(done, "HF_ENDPOINT", "sin ruta detrás")
    assert "no existe en Hugging Face" not in line


def test_offline_mode_with_nothing_cached_names_the_variable(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path / "hf")
        env["HF_HUB_OFFLINE"] = "1"
        done = _run(env, hub.repo_id)
        assert hub.requests == []
    line = _refused(done, "HF_HUB_OFFLINE=1")
    assert "Conéctese" not in line


def test_a_hub_that_stops_midway_says_the_download_was_cut(medium_model_dir, tmp_path):
    """Issue 26, point 11: not «no hay conexión… Conéctese a internet», but how much was done."""
    rate = (medium_model_dir / "model.safetensors").stat().st_size / 20
    hub = FakeHub(medium_model_dir, rate=rate)
    hub.__enter__()
    program = subprocess.Popen(
        [sys.executable, SCRIPT, "--modelo", hub.repo_id, "--revision", REVISION, PHOTO], cwd=REPO,
        env=hub.env(tmp_path / "hf", deadline=3), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    blobs = _blob_folder(tmp_path, hub)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".incomplete") and p.stat().st_size > 0 for p in blobs.glob("*")):
        assert program.poll() is None and time.monotonic() < deadline, program.communicate()
        time.sleep(0.05)
    hub.stop()
    out, err = program.communicate(timeout=120)
    assert program.returncode == 2, err
    last = err.splitlines()[-1]
    assert last.startswith("Error: La descarga del modelo «prueba/vit-diminuto» se cortó al "), err
    assert " MB): se perdió la conexión con Hugging Face" in last and "Conéctese" not in last


# --- no code from the current folder ---------------------------------------------------------------------


def test_a_json_py_and_a_classifier_package_in_the_current_folder_never_run(tiny_model_dir, tmp_path, expected):
    work = tmp_path / "Descargas"
    (work / "classifier").mkdir(parents=True)
    marker = tmp_path / "ejecutado"
    (work / "json.py").write_text(f"open({str(marker)!r}, 'a').write('json')\nraise SystemExit(0)\n")
    (work / "classifier" / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write('classifier')\n")
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path / "hf")
        done = _run(env, hub.repo_id, cwd=work)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert not marker.exists()


# --- partial files: each run its own ---------------------------------------------------------------------


def _partials(blobs):
    return [p for p in blobs.glob("*.incomplete")]


def test_two_runs_at_once_one_interrupted_the_other_completes(medium_model_dir, tmp_path):
    rate = (medium_model_dir / "model.safetensors").stat().st_size / 12
    with FakeHub(medium_model_dir, rate=rate) as hub:
        env = hub.env(tmp_path / "hf")
        command = [sys.executable, SCRIPT, "--modelo", hub.repo_id, "--revision", REVISION, PHOTO]
        first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        second = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        blobs = _blob_folder(tmp_path, hub)
        deadline = time.monotonic() + 60
        while not (_partials(blobs) and len(hub.gets("model.safetensors")) >= 1
                   and sum(1 for m, p, _ in hub.requests if m == "HEAD" and p.endswith("model.safetensors")) >= 2):
            assert first.poll() is None and second.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # One of the two is writing the weights, the other waits for the client's lock: stop the latter,
        # or the former, whichever; the one left must finish.
        writing = _partials(blobs)
        second.send_signal(signal.SIGINT)
        second.communicate(timeout=60)
        assert second.returncode == 130
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert writing[0].exists() or not _partials(blobs)
    assert not _partials(blobs)


def test_two_runs_at_once_the_one_waiting_for_the_others_file_is_not_cut(medium_model_dir, tmp_path, medium_expected):
    """The client makes the second run wait for the first one's lock on the same file: the file growing
    on disk is progress for both, not a silence of the hub (deadline 2 s, a file of 10 s)."""
    rate = (medium_model_dir / "model.safetensors").stat().st_size / 10
    with FakeHub(medium_model_dir, rate=rate) as hub:
        env = hub.env(tmp_path / "hf", deadline=2)
        command = [sys.executable, SCRIPT, "--modelo", hub.repo_id, "--revision", REVISION, "-k", "3", PHOTO]
        runs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
        results = [run.communicate(timeout=180) for run in runs]
    for run, (out, err) in zip(runs, results, strict=True):
        assert run.returncode == 0, err
        assert out == medium_expected
    assert len(hub.gets("model.safetensors")) == 1  # one of them downloaded it, the other used it


def test_a_killed_run_leaves_nothing_the_rerun_believes_in(medium_model_dir, tmp_path):
    rate = (medium_model_dir / "model.safetensors").stat().st_size / 20
    with FakeHub(medium_model_dir, rate=rate) as hub:
        env = hub.env(tmp_path / "hf")
        program = subprocess.Popen([sys.executable, SCRIPT, "--modelo", hub.repo_id, "--revision", REVISION, PHOTO],
                                   cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        blobs = _blob_folder(tmp_path, hub)
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size >= 2**20 for p in _partials(blobs)):
            assert program.poll() is None and time.monotonic() < deadline, program.communicate()
            time.sleep(0.05)
        program.kill()
        program.communicate(timeout=30)
        deadline = time.monotonic() + 30
        while any(b"hub_child" in p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if p.exists()
                  and str(blobs.parent.name).split("--")[-1].encode() in p.read_bytes()):
            assert time.monotonic() < deadline  # the child goes when its parent does
            time.sleep(0.1)
        assert _partials(blobs)  # what a run killed outright leaves
        hub.rate = None
        again = subprocess.run([sys.executable, SCRIPT, "--modelo", hub.repo_id, "--revision", REVISION, PHOTO],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "ya había" not in again.stderr  # 2.5 never resumes another process's partial file
    assert not _partials(blobs)  # the dead run's partial file is gone, not kept forever


# --- settings --------------------------------------------------------------------------------------------


MALFORMED = [
    ("HF_ENDPOINT", "http://127.0.0.1:99999", "puerto"),
    ("HF_ENDPOINT", "http://[::1", "corchetes"),
    ("HF_ENDPOINT", "127.0.0.1:8820", "le falta el esquema"),
    ("HF_ENDPOINT", "ftp://127.0.0.1", "solo sirven http y https"),
    ("HF_HUB_ETAG_TIMEOUT", "abc", "número entero de segundos"),
    ("HF_HUB_DOWNLOAD_TIMEOUT", "1.5", "número entero de segundos"),
    ("HF_HUB_VERBOSITY", "xyz", "nivel de mensajes"),  # finding 13: English from the client's logging
    ("TRANSFORMERS_VERBOSITY", "xyz", "nivel de mensajes"),
]


@pytest.mark.parametrize("name, value, why", MALFORMED)
def test_a_malformed_setting_is_one_sentence_and_a_local_model_never_depends_on_it(tiny_model_dir, tmp_path,
                                                                                 expected, name, value, why):
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), LC_ALL="C.UTF-8")
    env[name] = value
    local = _run(env, tiny_model_dir)
    assert local.returncode == 0 and local.stdout == expected and local.stderr == "", local.stderr
    hub = _run(env, "prueba/vit-diminuto")
    line = _refused(hub, f"La variable de entorno {name}", why, "por ejemplo")
    assert "Traceback" not in hub.stderr and line.endswith(".")


def test_an_empty_hf_home_counts_as_unset(tiny_model_dir, tmp_path, expected):
    work = tmp_path / "trabajo"
    work.mkdir()
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path / "no-usada")
        env["HF_HOME"] = ""
        env["HOME"] = str(tmp_path / "casa")
        env.pop("XDG_CACHE_HOME", None)
        env.pop("HF_HUB_CACHE", None)
        done = _run(env, hub.repo_id, cwd=work)
    assert done.returncode == 0 and done.stdout == expected, done.stderr
    assert list(work.iterdir()) == []
    assert (tmp_path / "casa" / ".cache" / "huggingface" / "hub" / "models--prueba--vit-diminuto").is_dir()


# --- the window says what it waits for -------------------------------------------------------------------


WAITS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from classifier.base.errors import ModelLoadError
from classifier.hub import download as hub
from classifier.hub.download_progress import DownloadProgress

class Recorder(DownloadProgress):
    def __init__(self):
        self.waits = []
    def advance(self, state):
        if state.waiting and state.waiting not in self.waits:
            self.waits.append(state.waiting)

recorder = Recorder()
try:
    hub.download(sys.argv[2], sys.argv[3], recorder)
except ModelLoadError as exc:
    print(json.dumps({"waits": recorder.waits, "error": str(exc)}))
"""


def test_what_the_download_waits_for_is_said_to_the_window(tiny_model_dir, tmp_path):
    """The progress a window shows (gui.DownloadWindow puts state.waiting in its second line) names the
    wait, and the try it is in, rather than freezing at «0 % · 0,0 de 0,1 MB»."""
    import json
    import re

    with FakeHub(tiny_model_dir, never_serve=True) as hub:
        done = subprocess.run([sys.executable, "-c", WAITS, str(REPO), hub.repo_id, REVISION], cwd=tmp_path,
                              env=hub.env(tmp_path / "hf", deadline=4), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    shapes = {re.sub(r"\d+ s", "N s", wait) for wait in report["waits"]}
    assert "Esperando los datos de Hugging Face: N s sin respuesta…" in shapes, report
    assert "Esperando los datos de Hugging Face: N s sin respuesta (intento 2 de 3)…" in shapes, report
    assert "intento 4" not in " ".join(report["waits"])


WINDOW = """
import sys
sys.path.insert(0, sys.argv[1])
from classifier.gui.download_window import DownloadWindow
from classifier.hub.download_progress import DownloadState

LISTING = "Esperando la lista de archivos de Hugging Face: 5 s sin respuesta…"
DATA = "Esperando los datos de Hugging Face: 4 s sin respuesta (intento 2 de 3)…"
window = DownloadWindow()
window.advance(DownloadState(0, None, None, 5.0, waiting=LISTING))
print(window.speed.cget("text"))
window.advance(DownloadState(50_000, 100_000, None, 9.0, waiting=DATA))
print(window.amounts.cget("text"))
print(window.speed.cget("text"))
window.end(None, False)
"""


def test_the_download_window_shows_what_it_waits_for(tmp_path):
    import xdesktop

    if xdesktop.available() is not None:
        pytest.skip(xdesktop.available())
    with xdesktop.VirtualScreen(1024, 600) as screen:
        done = subprocess.run([sys.executable, "-c", WINDOW, str(REPO)], cwd=tmp_path, env=screen.env(),
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Esperando la lista de archivos de Hugging Face: 5 s sin respuesta…",
        "50 %   ·   0,1 de 0,1 MB",
        "Esperando los datos de Hugging Face: 4 s sin respuesta (intento 2 de 3)…",
    ]


# --- the second attack: every answer checked, whatever its status, URL or page ------------------------


def _run_at(env, model, revision):
    """A run with --revision given as the user gives it (a branch name: the hub says its commit)."""
    return subprocess.run([sys.executable, SCRIPT, "--modelo", str(model), "--revision", revision, "-k", "3", PHOTO],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _honest_listing(handler):
    return [handler._tree_entry(name, info) for name, info in handler.hub.files.items()]


def _to_detour(handler, path):
    """A same-host redirect of every file to the stand-in's own /desvio/NAME (served honestly there)."""
    handler.send_response(302)
    handler.send_header("Location", "/desvio/" + path.rsplit("/", 1)[1])
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def _revision_refused_and_home_untouched(tiny_model_dir, tmp_path, home, lie):
    """A run of the model at "main" against a hub that lies about the revision's commit: refused, home as it was."""
    before = _tree(home)
    with FakeHub(tiny_model_dir, respond=lie) as hub:
        done = _run_at(hub.env(tmp_path / "hf"), hub.repo_id, "main")
    _refused(done, "no es de fiar", "commit de la revisión")
    assert _tree(home) == before


@pytest.mark.parametrize("status", [200, 203])
def test_a_revision_commit_that_is_a_path_is_refused_whatever_the_status(tiny_model_dir, tmp_path, home, status):
    """The client names refs/<revision>'s content, trees/<sha>.json and snapshots/<sha> from the revision's
    "sha", and reads it from any answer below 400 (attack 2, finding 1)."""
    def lie(handler, path, body):
        if "/revision/" in path:
            handler._json({"id": handler.hub.repo_id, "sha": "../../../../home/.bashrc"}, status)
        elif "/tree/" in path:
            handler._json(_honest_listing(handler))
        elif "/resolve/" in path:
            _to_detour(handler, path)
        else:
            return False
        return True

    _revision_refused_and_home_untouched(tiny_model_dir, tmp_path, home, lie)


def test_an_api_answer_after_a_redirect_is_checked_as_the_api_answer(tiny_model_dir, tmp_path, home):
    """A redirect off /api/ to a mirror's own path: the answer is still the revision's (finding 2)."""
    def lie(handler, path, body):
        if "/revision/" in path:
            handler.send_response(302)
            handler.send_header("Location", "/espejo/revision")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif path == "/espejo/revision":
            handler._json({"id": handler.hub.repo_id, "sha": "../../../../home/.bashrc"})
        elif "/tree/" in path:
            handler._json(_honest_listing(handler))
        elif "/resolve/" in path:
            _to_detour(handler, path)
        else:
            return False
        return True

    _revision_refused_and_home_untouched(tiny_model_dir, tmp_path, home, lie)


def test_a_next_page_that_climbs_out_of_the_listing_is_refused(tiny_model_dir, tmp_path):
    """httpx resolves the dots of a Link header: /tree/main/../../.. is somewhere else (finding 2)."""
    with FakeHub(tiny_model_dir) as hub:
        hub.next_page = f"{hub.url}/api/models/{hub.repo_id}/tree/main/../../../../../../otra"  # absolute: urljoin
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)                                   # keeps its dots
    _refused(done, "no es de fiar", "sigue en otra dirección")


@pytest.mark.parametrize("how", ["sin_pesos", "otro_hash_203"])
def test_a_second_listing_unlike_the_first_is_refused_and_poisons_nothing(tiny_model_dir, tmp_path, expected, how):
    """The client lists again (its own request, cached as trees/<commit>.json): any listing must be the plan
    (finding 3). A later run against an honest hub works."""
    seen = []

    def lie(handler, path, body):
        if "/tree/" not in path:
            return False
        seen.append(path)
        entries = _honest_listing(handler)
        if len(seen) == 1:
            handler._json(entries)
        elif how == "sin_pesos":
            handler._json([entry for entry in entries if "lfs" not in entry])
        else:
            for entry in entries:
                if "lfs" in entry:
                    entry["lfs"]["oid"], entry["lfs"]["size"] = "e" * 64, entry["lfs"]["size"] + 5
                    entry["size"] += 5
            handler._json(entries, 203)
        return True

    with FakeHub(tiny_model_dir, respond=lie) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "lista de archivos cambió")
    with FakeHub(tiny_model_dir) as hub:
        again = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    assert again.returncode == 0 and again.stdout == expected, again.stderr


@pytest.mark.parametrize("typed", ["igual", "mayusculas"])
def test_a_listing_in_pages_on_its_own_path_is_followed(tiny_model_dir, tmp_path, expected, typed):
    """The real hub paginates big repositories with a Link header (finding 10), naming itself in its own
    spelling: HF_ENDPOINT=http://LocalHost:… was refused as «sigue en otra dirección» (attack 2)."""
    def pages(handler, path, body):
        if "/tree/" not in path:
            return False
        entries = _honest_listing(handler)
        if "cursor=2" in handler.path:
            handler._json(entries[1:])
        else:
            own = handler.hub.url.replace("127.0.0.1", "localhost")
            handler._json(entries[:1], link=f'<{own}{path}?cursor=2>; rel="next"')
        return True

    with FakeHub(tiny_model_dir, respond=pages) as hub:
        env = hub.env(tmp_path / "hf")
        env["HF_ENDPOINT"] = hub.url.replace("127.0.0.1", "localhost" if typed == "igual" else "LocalHost")
        done = _run(env, hub.repo_id)
    assert done.returncode == 0 and done.stdout == expected, done.stderr
    assert "(0,0 MB)" not in done.stderr


@pytest.mark.parametrize("where", ["blobs", "locks", "subcarpeta"])
def test_a_link_planted_in_the_cache_is_refused_before_anything_is_written_or_removed(tiny_model_dir, tmp_path,
                                                                                     home, where):
    """blobs/ (where dead partial files are removed), .locks/models--… (lock files created and truncated),
    a sub-folder of snapshots/<commit> (links created in it): all looked at first (finding 4)."""
    storage = tmp_path / "hf" / "hub" / "models--prueba--vit-diminuto"
    storage.mkdir(parents=True)
    extra = {}
    if where == "blobs":
        target = home / "Descargas"
        target.mkdir()
        (target / "pelicula.mkv.incomplete").write_bytes(b"x" * 5000)
        (storage / "blobs").symlink_to(target)
    elif where == "locks":
        target = home / "otra"
        target.mkdir()
        (storage.parent / ".locks").mkdir()
        (storage.parent / ".locks" / storage.name).symlink_to(target)
    else:
        target = home / ".config" / "autostart"
        target.mkdir(parents=True)
        data = b'{"x": 1}'
        extra = {"sub/evil.desktop.json": data}
        snapshot = storage / "snapshots" / REVISION
        snapshot.mkdir(parents=True)
        (snapshot / "sub").symlink_to(target)
    before = _tree(home)
    with FakeHub(tiny_model_dir, extra=extra) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    line = _refused(done, "apunta fuera de su carpeta", "borre ese enlace")
    assert str(storage) in line or str(storage.parent / ".locks") in line
    assert _tree(home) == before


def test_a_password_in_hf_endpoint_is_never_printed(tiny_model_dir, tmp_path):
    """Finding 7: the sentences name the endpoint, without its password."""
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), LC_ALL="C.UTF-8", HF_HUB_OFFLINE="0",
               HF_ENDPOINT="http://alumno:S3cr3tT0ken@127.0.0.1:9")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    done = _run(env, "prueba/vit-diminuto")
    line = _refused(done, "no hay conexión", "alumno:***@127.0.0.1:9")
    assert "S3cr3tT0ken" not in done.stderr, line


def test_the_hub_writes_no_file_of_its_own_into_hf_home(tiny_model_dir, tmp_path, expected):
    """Finding 8: the client's agent registry (/api/agent-harnesses) is never asked for, never stored."""
    def registry(handler, path, body):
        if path != "/api/agent-harnesses":
            return False
        handler._json({"standardEnvVars": ["AGENT"], "harnesses": {"x" * 100: {"envVars": {}}} | {
            str(n): {} for n in range(2000)}})
        return True

    with FakeHub(tiny_model_dir, respond=registry) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
        asked = [path for _, path, _ in hub.requests if "agent" in path]
    assert done.returncode == 0 and done.stdout == expected, done.stderr
    assert not asked and not (tmp_path / "hf" / ".agent_harnesses.json").exists()


def test_a_listed_name_with_terminal_escapes_reaches_the_terminal_as_text(tiny_model_dir, tmp_path):
    """Finding 6: no ESC, CR or line break of the hub's on stderr; the name is refused in one line."""
    name = "\x1b[2K\r\x1b[32mModelo verificado.\x1b[0m\rz.json"
    lie_oid = "1" * 40

    def lie(entries):
        for entry in entries:
            if entry["path"] == name:
                entry["oid"] = lie_oid
        return entries

    with FakeHub(tiny_model_dir, extra={name: b'{"a": 1}'}, tree=lie, etags={name: lie_oid}) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "ruta insegura")
    assert "\x1b" not in done.stderr and "\r" not in done.stderr


def test_a_trickle_of_bytes_ends_like_a_silence(tiny_model_dir, tmp_path):
    """Finding 11: a byte every half second is no progress; the run ends after three deadlines."""
    def trickle(handler, path, body):
        hub = handler.hub
        name = hub.weights()
        if not (body and path.endswith("/resolve/" + hub.revision + "/" + name)):
            return False
        info = hub.files[name]
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", hub.revision)
        handler.send_header("ETag", f'"{info["oid"]}"')
        handler.send_header("X-Linked-Etag", f'"{info["sha256"]}"')
        handler.send_header("Content-Length", str(len(info["data"])))
        handler.end_headers()
        try:
            for index in range(len(info["data"])):
                handler.wfile.write(info["data"][index:index + 1])
                handler.wfile.flush()
                if hub.released.wait(0.5):
                    break
        except OSError:
            pass
        handler.close_connection = True
        return True

    began = time.monotonic()
    with FakeHub(tiny_model_dir, respond=trickle) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=2), hub.repo_id, timeout=90)
    _refused(done, "dejó de enviar datos", "3 veces")
    assert time.monotonic() - began < 60


@pytest.mark.parametrize("what", ["archivo", "lista"])
def test_a_gzip_body_is_refused_before_it_is_inflated(tiny_model_dir, tmp_path, what):
    """Finding 5: httpx inflates Content-Encoding: gzip whatever was asked; 20 kB became 20 MB on disk."""
    import gzip

    bomb = gzip.compress(b"\0" * 20_000_000)

    def inflate(handler, path, body):
        hub = handler.hub
        if what == "lista" and "/tree/" in path:
            handler.send_response(200)
        elif what == "archivo" and body and path.endswith("/" + hub.weights()):
            info = hub.files[hub.weights()]
            handler.send_response(200)
            handler.send_header("X-Repo-Commit", hub.revision)
            handler.send_header("ETag", f'"{info["oid"]}"')
            handler.send_header("X-Linked-Etag", f'"{info["sha256"]}"')
        else:
            return False
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(bomb)))
        handler.end_headers()
        handler.wfile.write(bomb)
        return True

    with FakeHub(tiny_model_dir, respond=inflate) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    _refused(done, "no es de fiar", "comprimidos")
    written = sum(path.stat().st_size for path in (tmp_path / "hf").rglob("*") if path.is_file())
    assert written < 1_000_000


@pytest.mark.parametrize("field, value", [("X-Linked-Size", str(2**40)), ("Content-Length", str(10**14))])
def test_a_size_header_beyond_any_model_file_is_refused(tiny_model_dir, tmp_path, field, value):
    """Findings 5 and 9: a size the client would reserve or count with is a byte count of a model file."""
    def claim(handler, path, body):
        hub = handler.hub
        if body or not path.endswith("/" + hub.weights()):
            return False
        info = hub.files[hub.weights()]
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", hub.revision)
        handler.send_header("ETag", f'"{info["oid"]}"')
        handler.send_header("X-Linked-Etag", f'"{info["sha256"]}"')
        handler.send_header(field, value)
        handler.end_headers()
        return True

    with FakeHub(tiny_model_dir, respond=claim) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=3), hub.repo_id)
    _refused(done, "no es de fiar", field)


def test_a_folder_named_as_the_default_model_in_the_current_folder_is_not_used(tiny_model_dir, tmp_path):
    """Finding 12: without --modelo the model is the hub's, never ./google/vit-base-patch16-224 unannounced."""
    import shutil

    from classifier.base.defaults import DEFAULT_MODEL

    work = tmp_path / "trabajo"
    shutil.copytree(tiny_model_dir, work / DEFAULT_MODEL)
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), LC_ALL="C.UTF-8", HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, SCRIPT, "-k", "3", PHOTO], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)
    _refused(done, DEFAULT_MODEL, "no está en la caché", "HF_HUB_OFFLINE")


@pytest.mark.parametrize("how, words", [
    ("nombre_largo", "ruta insegura"),
    ("archivo_y_carpeta", "como archivo y como carpeta"),
    ("anidada", "no es JSON válido"),
    ("file", "no es http ni https"),
    ("ftp", "no es http ni https"),
    ("ipv6_roto", "no es http ni https"),
])
def test_odd_answers_are_named_not_unexpected_errors(tiny_model_dir, tmp_path, how, words):
    """Finding 9: each was «error inesperado: OSError / FileExistsError / RecursionError / UnsupportedProtocol /
    ValueError … Vuelva a ejecutar», though rerunning never helps."""
    locations = {"file": "file:///etc/passwd", "ftp": "ftp://127.0.0.1/x", "ipv6_roto": "http://[::1/x"}

    def odd(handler, path, body):
        if "/tree/" in path and how in ("nombre_largo", "archivo_y_carpeta", "anidada"):
            entries = _honest_listing(handler)
            if how == "nombre_largo":
                entries.append({**entries[0], "path": "a" * 300 + ".json"})
            elif how == "archivo_y_carpeta":
                entries += [{**entries[0], "path": "a.json"}, {**entries[0], "path": "a.json/b.json"}]
            else:
                data = b"[" * 200_000 + b"]" * 200_000
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)
                return True
            handler._json(entries)
            return True
        if "/resolve/" in path and how in locations:
            handler.send_response(302)
            handler.send_header("Location", locations[how])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return True
        return False

    with FakeHub(tiny_model_dir, respond=odd) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=5), hub.repo_id)
    line = _refused(done, "no es de fiar", words)
    assert "inesperado" not in line


@pytest.mark.parametrize("where", ["lista", "fecha"])
def test_a_429_on_the_listing_or_with_a_date_is_told_with_its_wait(tiny_model_dir, tmp_path, where):
    """Finding 9: a 429 on the listing was «rechazó la descarga (error 429)» with no remedy; a Retry-After
    given as an HTTP date was «sin decir cuánto»."""
    import email.utils

    def busy(handler, path, body):
        if "/tree/" not in path:
            return False
        handler.send_response(429)
        handler.send_header("Retry-After", "5")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return True

    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with FakeHub(tiny_model_dir, respond=busy if where == "lista" else None,
                 retry_after=None if where == "lista" else when) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=5), hub.repo_id, timeout=90)
    _refused(done, "pidió esperar " + ("5 s" if where == "lista" else "59 min"), "error 429", "pasado ese tiempo")


def test_a_ratelimit_header_s_long_wait_is_told_not_slept_through(tiny_model_dir, tmp_path):
    """Finding 9: Retry-After: 1 with RateLimit r=0;t=3600, and the client slept 3601 s; the firewall sentence."""
    def limited(handler, path, body):
        if "/resolve/" not in path:
            return False
        handler.send_response(429)
        handler.send_header("Retry-After", "1")
        handler.send_header("RateLimit", '"resolvers";r=0;t=3600')
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return True

    with FakeHub(tiny_model_dir, respond=limited) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=5), hub.repo_id, timeout=120)
    _refused(done, "pidió esperar 1 h 00 min", "error 429")


# --- a fresh attack (issue 25, second round: /work/prompts/attack2.md) ---------------------------------


def test_a_header_the_http_client_refuses_is_named_not_a_firewall(tiny_model_dir, tmp_path):
    """Content-Length: -5 is refused by h11 before the guard sees it: it was told as a silence, three tries,
    then «…no envió ninguno… cortafuegos», though every try gets the same broken answer."""
    with FakeHub(tiny_model_dir, content_length={"model.safetensors": "-5"}) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=3), hub.repo_id)
    line = _refused(done, "respuesta HTTP no válida", "Content-Length", "volver a ejecutar no lo arregla")
    assert "cortafuegos" not in line
    assert len([path for method, path, _ in hub.requests if method == "HEAD" and path.endswith(".safetensors")]) == 1


@pytest.mark.parametrize("answer, size", [("lista", 80 * 2**20), ("404", 8 * 2**20), ("302", 8 * 2**20)])
def test_a_body_sent_without_a_length_is_bounded_too(tiny_model_dir, tmp_path, answer, size):
    """Chunked answers carry no Content-Length, the one bound the guard had: a 200 MB listing took 413 MB in
    the child, a 200 MB 404 body 983 MB, a redirect loop of 200 MB bodies 4.2 GB, each read whole."""
    with FakeHub(tiny_model_dir, chunked_body=(answer, size)) as hub:
        done = _run(hub.env(tmp_path / "hf", deadline=5), hub.repo_id)
    _refused(done, "no es de fiar", "demasiado grande")


@pytest.mark.parametrize("offline", ["1", "0"])
def test_a_malformed_endpoint_never_refuses_a_model_already_cached(tiny_model_dir, tmp_path, expected, offline):
    """The endpoint is needed only to reach the hub: «HF_ENDPOINT=127.0.0.1:8820 … no le falta el esquema»
    refused a cached model, HF_HUB_OFFLINE=1 or not. A model not cached still gets that sentence."""
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path / "hf")
        assert _run(env, hub.repo_id).stdout == expected
    env.update(HF_ENDPOINT="127.0.0.1:8820", HF_HUB_OFFLINE=offline)
    done = _run(env, hub.repo_id)
    assert done.returncode == 0 and done.stdout == expected and done.stderr == "", done.stderr
    env["HF_HOME"] = str(tmp_path / "vacia")
    _refused(_run(env, hub.repo_id), "La variable de entorno HF_ENDPOINT", "esquema")


def test_a_cache_sharing_the_client_s_own_blob_store_is_used(tiny_model_dir, tmp_path, expected):
    """huggingface_hub 2.5 keeps Xet downloads in a cache-wide store (utils/_shared_blobs.py, on by default):
    models--…/blobs/<etag> links to <cache>/blobs/<2 hex>/<xet hash>. A cache another program made so (a
    notebook's pipeline, «hf download») was refused as a planted link, «borre ese enlace», online and offline."""
    import hashlib

    from huggingface_hub.utils._shared_blobs import publish_blob_to_shared_store

    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path / "hf")
        assert _run(env, hub.repo_id).stdout == expected
        cache = tmp_path / "hf" / "hub"
        for blob in _blob_folder(tmp_path, hub).iterdir():
            xet = hashlib.sha256(b"xet" + blob.read_bytes()).hexdigest()  # any 64 hex: the hub's Xet hash
            assert publish_blob_to_shared_store(blob_path=str(blob), xet_hash=xet, cache_dir=str(cache),
                                                expected_size=blob.stat().st_size, replace_existing=False)
            assert blob.is_symlink()
        before = _tree(tmp_path / "hf")
        for offline in ("0", "1"):
            done = _run({**env, "HF_HUB_OFFLINE": offline}, hub.repo_id)
            assert done.returncode == 0 and done.stdout == expected and done.stderr == "", done.stderr
    assert _tree(tmp_path / "hf") == before


@pytest.mark.parametrize("how", ["desconocido", "confiado", "http"])
def test_a_certificate_the_system_does_not_trust_is_not_a_cache_without_permission(tiny_model_dir, tmp_path,
                                                                                     expected, how):
    """ssl.SSLCertVerificationError is an OSError with errno 1, read as EPERM: a mirror with its own
    certificate, or a school proxy that inspects connections, was «No se puede escribir en la caché…
    (operación no permitida): dé permiso de escritura». Its certificate named with SSL_CERT_FILE, it works;
    https:// to a plain HTTP port is named too."""
    with FakeHub(tiny_model_dir, tls=how != "http") as hub:
        env = hub.env(tmp_path / "hf", deadline=5)
        env["HF_ENDPOINT"] = hub.url.replace("http://", "https://")
        env.pop("SSL_CERT_FILE", None)
        env.pop("SSL_CERT_DIR", None)
        if how == "confiado":
            env["SSL_CERT_FILE"] = str(Path(__file__).parent / "fixtures" / "tls" / "certificado.pem")
        done = _run(env, hub.repo_id)
    if how == "confiado":
        assert done.returncode == 0 and done.stdout == expected, done.stderr
        return
    line = _refused(done, "conexión segura", *(["firmado por el propio servidor", "SSL_CERT_FILE"] if how != "http"
                                               else ["HF_ENDPOINT", "http://"]))
    assert "permiso" not in line


def test_a_sub_folder_of_the_repository_is_not_downloaded(tiny_model_dir, tmp_path, expected):
    """fnmatch's «*.safetensors» matches «last-checkpoint/model.safetensors»: a repository with a Trainer's
    checkpoint folder (or a hub that lists one) had its weights downloaded too, never read (3,1 MB for 0,1)."""
    extra = {"last-checkpoint/model.safetensors": bytes(range(256)) * 8192, "last-checkpoint/trainer_state.json": b"{}"}
    with FakeHub(tiny_model_dir, extra=extra) as hub:
        done = _run(hub.env(tmp_path / "hf"), hub.repo_id)
    assert done.returncode == 0 and done.stdout == expected, done.stderr
    assert [path for method, path, _ in hub.requests if "checkpoint" in path] == []
    assert "(0,1 MB)" in done.stderr


def test_a_connection_refused_by_a_local_firewall_is_not_a_cache_without_permission():
    """connect() blocked by a local firewall rule fails with EPERM, as a file without permission does; it was
    told «No se puede escribir en la caché… (operación no permitida)». Only an error naming a file is the
    cache's. (No firewall is changed here: the client's own exception chain is built as httpx2 raises it.)"""
    import errno

    import httpx2

    from classifier.hub.child import _classify

    def raised(cause):
        try:
            try:
                raise cause
            except OSError as exc:
                raise httpx2.ConnectError("[Errno 1] Operation not permitted") from exc
        except httpx2.ConnectError as exc:
            return _classify(exc)

    assert raised(PermissionError(errno.EPERM, "Operation not permitted"))["kind"] == "network"
    assert raised(PermissionError(errno.EACCES, "Permission denied", "/cache/blobs/x.lock"))["kind"] == "unwritable"
