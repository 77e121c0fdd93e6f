"""The first run's download, end to end: the real program, the real huggingface_hub client, a stand-in hub.

tests/fakehub.py serves a tiny ViT under a made-up repository and commit; HF_ENDPOINT
points at it and HF_HOME at a temporary folder. The reference for every run is the
same program on the same model read from a local folder: the downloaded copy must
give the same lines.
"""

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakehub import REVISION, FakeHub

from classifier.hub.download_progress import megabytes
from conftest import PHOTOS, REPO, reliability

TRIED = reliability.setdefault("interrupciones", set())
MODELS = reliability.setdefault("modelos", set())
PHOTO = str(PHOTOS[0])
ANNOUNCE = re.compile(r"^Descargando el modelo «(.+)» \((\d+,\d) MB\) a «(.+)»(; ya había \d+,\d MB de una vez "
                      r"anterior)?\. Solo ocurre la primera vez: después se usa esa copia, sin conexión\.$")
SPEED = r"(\d+,\d MB/s|\d+ kB/s)"
DONE = re.compile(rf"^Descarga completa: \d+,\d MB en \d+ s(, {SPEED})?\.$")
PLAIN = re.compile(rf"^Descargando: (\d+)0 % \(\d+,\d de \d+,\d MB, ({SPEED}|… MB/s), (quedan .+|calculando…)\)$")


def _run(hub, home, *args, deadline=None, env=None, timeout=180, repo=None, **options):
    env = env or hub.env(home, deadline)
    return subprocess.run(
        [sys.executable, "script_modelo.py", "--modelo", repo or hub.repo_id, "--revision", REVISION, "-k", "3",
         *args, PHOTO], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, **options)


def _lines_from_folder(folder):
    """The program's lines on a model read from its folder: what a download of it must lead to."""
    done = subprocess.run([sys.executable, "script_modelo.py", "--modelo", str(folder), "-k", "3", PHOTO],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def expected(tiny_model_dir):
    return _lines_from_folder(tiny_model_dir)


CHUNK = 10 * 2**20  # the hub client writes a download to disk in pieces of this size: it resumes from there


@pytest.fixture(scope="module")
def medium_model_dir(tmp_path_factory):
    """A ViT of about 21 MB: more than one of the client's pieces, so that a download can stop halfway."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    from conftest import TINY_LABELS

    folder = tmp_path_factory.mktemp("vit-mediano")
    config = ViTConfig(image_size=(32, 48), patch_size=8, hidden_size=384, num_hidden_layers=3, num_attention_heads=6,
                       intermediate_size=1536, num_labels=len(TINY_LABELS), id2label=dict(enumerate(TINY_LABELS)),
                       label2id={label: i for i, label in enumerate(TINY_LABELS)})
    torch.manual_seed(0)
    ViTForImageClassification(config).eval().save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 32, "width": 48}).save_pretrained(folder)
    assert (folder / "model.safetensors").stat().st_size > 2 * CHUNK
    return folder


@pytest.fixture(scope="module")
def medium_expected(medium_model_dir):
    return _lines_from_folder(medium_model_dir)


def _slow_rate(model_dir, seconds):
    """Bytes per second that make the weights take about that long."""
    return (Path(model_dir) / "model.safetensors").stat().st_size / seconds


def _download_lines(err, model_dir=None):
    """The stderr of a download run, checked line by line: the announcement, progress, the summary."""
    lines = err.splitlines()
    assert ANNOUNCE.match(lines[0]), lines
    assert DONE.match(lines[-1]), lines
    middle = lines[1:-1]
    assert all(PLAIN.match(line) for line in middle), middle
    steps = [int(PLAIN.match(line).group(1)) for line in middle]
    assert steps == sorted(set(steps)), steps
    return steps


def test_a_first_download_seen_in_a_log_then_the_rerun_offline(tiny_model_dir, tmp_path, expected):
    with FakeHub(tiny_model_dir, rate=_slow_rate(tiny_model_dir, 3)) as hub:
        first = _run(hub, tmp_path)
        assert first.returncode == 0, first.stderr
        assert first.stdout == expected
        steps = _download_lines(first.stderr)
        assert len(steps) >= 3  # a line every tenth, not every chunk
        assert ANNOUNCE.match(first.stderr.splitlines()[0]).group(3) == str(tmp_path / "hub")
        offline_env = hub.env(tmp_path)
    offline_env["HF_HUB_OFFLINE"] = "1"
    again = _run(hub, tmp_path, env=offline_env)
    assert again.returncode == 0 and again.stdout == expected and again.stderr == ""
    # And a hub that is gone: the cache is enough, without a word.
    offline_env["HF_HUB_OFFLINE"] = "0"
    again = _run(hub, tmp_path, env=offline_env)
    assert again.returncode == 0 and again.stdout == expected and again.stderr == ""


def test_json_on_stdout_stays_json_while_downloading(tiny_model_dir, tmp_path):
    import json

    with FakeHub(tiny_model_dir, rate=_slow_rate(tiny_model_dir, 2)) as hub:
        done = _run(hub, tmp_path, "--formato", "json")
    assert done.returncode == 0, done.stderr
    [record] = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["path"] == PHOTO
    _download_lines(done.stderr)


def test_a_first_download_on_a_terminal_draws_one_line_in_place(tiny_model_dir, tmp_path, expected):
    import pty

    with FakeHub(tiny_model_dir, rate=_slow_rate(tiny_model_dir, 3)) as hub:
        leader, follower = pty.openpty()
        os.set_inheritable(follower, True)
        program = subprocess.Popen(
            [sys.executable, "script_modelo.py", "--modelo", hub.repo_id, "--revision", REVISION, "-k", "3", PHOTO],
            cwd=REPO, env=hub.env(tmp_path), stdout=subprocess.PIPE, stderr=follower, text=True)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: the program closed its end
                break
            if not chunk:
                break
            seen += chunk
        out = program.stdout.read()
        program.wait(60)
        os.close(leader)
    assert program.returncode == 0 and out == expected
    text = seen.decode("utf-8").replace("\r\n", "\n")
    lines = text.split("\n")
    # While the hub is asked what to fetch, a line says so; the announcement is written over it.
    *connecting, announcement = lines[0].split("\r")
    assert ANNOUNCE.match(announcement), lines
    drawn = [part for part in connecting if part.strip()]
    assert all(part.startswith(f"Conectando con Hugging Face ({hub.url})…") for part in drawn), connecting
    # The progress line is redrawn in place: carriage returns, never a new line per update; then erased
    # (spaces over it) and the summary written in its place.
    _, *redraws, erase, summary = lines[1].split("\r")
    assert len(redraws) >= 3, lines[1]
    bar = re.compile(rf"^ *(\d+) % [━─]+  \d+,\d de (\d+,\d) MB  ({SPEED}|… MB/s)  (quedan \d.*|calculando…) *$")
    assert all(bar.match(part) for part in redraws), redraws
    percents = [int(bar.match(part).group(1)) for part in redraws]
    assert percents == sorted(percents) and percents[-1] <= 100
    assert erase == " " * max(len(part) for part in redraws)
    assert DONE.match(summary), summary
    assert lines[2:] == [f"El modelo se ejecuta en la CPU ({os.cpu_count()} núcleos).", ""]


def test_a_damaged_cache_is_repaired_and_offline_names_the_folder(tiny_model_dir, tmp_path, expected):
    with FakeHub(tiny_model_dir) as hub:
        assert _run(hub, tmp_path).returncode == 0
        weights = tmp_path / "hub" / "models--prueba--vit-diminuto" / "snapshots" / REVISION / "model.safetensors"
        blob = weights.resolve()
        data = blob.read_bytes()
        # A cut copy (size disagrees with the hub's record) ...
        blob.write_bytes(data[: len(data) // 2])
        repaired = _run(hub, tmp_path)
        assert repaired.returncode == 0, repaired.stderr
        assert repaired.stdout == expected
        first, *rest = repaired.stderr.splitlines()
        assert first == ("Los archivos del modelo «prueba/vit-diminuto» en la caché están dañados (model.safetensors): "
                         "se descargan de nuevo.")
        assert DONE.match(rest[-1]) and all(PLAIN.match(line) for line in rest[:-1]), rest
        assert weights.resolve().read_bytes() == data
        # ... and a copy of the right size whose header is garbage: it fails to load, its hash tells why.
        blob = weights.resolve()
        blob.write_bytes(b"\0" * 64 + data[64:])
        repaired = _run(hub, tmp_path)
        assert repaired.returncode == 0, repaired.stderr
        assert repaired.stdout == expected
        assert repaired.stderr.splitlines()[0].startswith("Los archivos del modelo «prueba/vit-diminuto» en la caché "
                                                          "están dañados (model.safetensors)")
        assert weights.resolve().read_bytes() == data
        weights.resolve().write_bytes(data[:100])
    offline = _run(hub, tmp_path)  # the hub is gone
    assert offline.returncode == 2 and offline.stdout == ""
    assert offline.stderr == (
        "Error: Los archivos del modelo «prueba/vit-diminuto» en la caché están dañados (model.safetensors) y no hay "
        f"conexión con Hugging Face para descargarlos de nuevo: borre la carpeta "
        f"«{tmp_path / 'hub' / 'models--prueba--vit-diminuto'}» y ejecute el programa con conexión, o use "
        "--modelo CARPETA.\n")
    TRIED.add("caché dañada")


def test_a_hub_that_accepts_and_never_answers_ends_within_the_deadline(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir, hang=True) as hub:
        started = time.monotonic()
        done = _run(hub, tmp_path, deadline=2)
        elapsed = time.monotonic() - started
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        f"Error: No se pudo descargar el modelo «prueba/vit-diminuto»: Hugging Face ({hub.url}) dejó de enviar datos "
        "durante 2 s, 3 veces seguidas. Compruebe la conexión y vuelva a ejecutar el programa.\n")
    # Three attempts of 2 s, plus each child's start and the program's own (torch): far from "forever".
    assert elapsed < 60, elapsed
    TRIED.add("hub que acepta y nunca responde")


def test_a_stall_mid_file_ends_the_attempt_and_the_next_one_resumes(medium_model_dir, tmp_path, medium_expected):
    with FakeHub(medium_model_dir, stall_after=CHUNK + 2**20) as hub:
        done = _run(hub, tmp_path, deadline=2)
        ranges = hub.gets("model.safetensors")
    assert done.returncode == 0, done.stderr
    assert done.stdout == medium_expected
    assert ranges == [None, f"bytes={CHUNK}-"], ranges
    _download_lines(done.stderr)
    TRIED.add("hub que se calla a mitad de archivo")


def test_a_slow_download_that_keeps_moving_is_never_cut(tiny_model_dir, tmp_path, expected):
    with FakeHub(tiny_model_dir, rate=_slow_rate(tiny_model_dir, 5)) as hub:
        done = _run(hub, tmp_path, deadline=1.5)
        ranges = hub.gets("model.safetensors")
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected and ranges == [None]


def test_a_connection_cut_mid_file_is_resumed(medium_model_dir, tmp_path, medium_expected):
    with FakeHub(medium_model_dir, cut_after=CHUNK + 2**20) as hub:
        done = _run(hub, tmp_path)
        ranges = hub.gets("model.safetensors")
    assert done.returncode == 0, done.stderr
    assert done.stdout == medium_expected
    assert ranges == [None, f"bytes={CHUNK}-"], ranges
    TRIED.add("conexión cortada a mitad de archivo")


@pytest.mark.parametrize(("status", "sentence"), [
    (503, "Hugging Face no está disponible ahora (error 503): pruebe más tarde."),
    (401, "El modelo «prueba/vit-diminuto» es privado o de acceso restringido en Hugging Face (error 401): acepte "
          "sus condiciones en su página e inicie sesión con «hf auth login», o use otro modelo."),
])
def test_a_hub_answering_an_error_is_named_at_once(tiny_model_dir, tmp_path, status, sentence):
    with FakeHub(tiny_model_dir, status=status) as hub:
        started = time.monotonic()
        done = _run(hub, tmp_path)
        elapsed = time.monotonic() - started
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"Error: {sentence}\n"
    assert elapsed < 20, elapsed  # not the client's 25 s of retries


def test_a_model_or_revision_that_does_not_exist(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir) as hub:
        missing = _run(hub, tmp_path, repo="prueba/no-existe")
        env = hub.env(tmp_path)
        wrong = subprocess.run(
            [sys.executable, "script_modelo.py", "--modelo", hub.repo_id, "--revision", "v9", PHOTO],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr == (
        "Error: El modelo «prueba/no-existe» no existe en Hugging Face (error 404): revise el nombre, o use "
        "--modelo CARPETA.\n")
    assert wrong.returncode == 2 and wrong.stderr == (
        "Error: La revisión «v9» no existe en el modelo «prueba/vit-diminuto» (error 404).\n")
    MODELS.update({"hub: repositorio inexistente", "hub: revisión inexistente"})


def test_the_default_model_comes_at_its_pinned_commit_and_only_safe_files(tiny_model_dir, tmp_path, expected):
    """Served as google/vit-base-patch16-224 at the pinned commit, beside pickle weights and Python code:
    only the JSON and safetensors files are ever asked for."""
    import shutil

    from classifier.base.defaults import DEFAULT_MODEL, DEFAULT_REVISION

    folder = tmp_path / "servido"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    (folder / "modeling_vit.py").write_text("raise SystemExit('código remoto')\n")
    with FakeHub(folder, repo_id=DEFAULT_MODEL, revision=DEFAULT_REVISION) as hub:
        done = subprocess.run([sys.executable, "script_modelo.py", "-k", "3", PHOTO], cwd=REPO,
                              env=hub.env(tmp_path / "home"), capture_output=True, text=True, timeout=180)
        asked = {path.rsplit("/", 1)[-1] for method, path, _ in hub.requests if "/resolve/" in path}
        revisions = {path.split("/")[-2] for method, path, _ in hub.requests if "/resolve/" in path}
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected.replace(str(tiny_model_dir), DEFAULT_MODEL)
    assert asked == {"config.json", "preprocessor_config.json", "model.safetensors"}
    assert revisions == {DEFAULT_REVISION}
    assert ANNOUNCE.match(done.stderr.splitlines()[0]).group(1) == DEFAULT_MODEL


def test_a_hub_that_is_not_there_is_no_connection(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path)
    started = time.monotonic()
    done = _run(hub, tmp_path, env=env)  # the port is closed now
    assert done.returncode == 2 and done.stderr == (
        f"Error: No se pudo descargar el modelo «prueba/vit-diminuto»: no hay conexión con Hugging Face ({hub.url}) "
        "y el modelo no está en la caché de este equipo. Conéctese a internet y ejecute el programa una vez (la "
        "descarga queda guardada), o traiga la carpeta del modelo de un equipo que lo tenga (docs/descarga.md) y use "
        "--modelo CARPETA.\n")
    assert time.monotonic() - started < 30
    MODELS.add("hub: la red falla en la descarga")


def test_offline_mode_never_touches_the_network(tiny_model_dir, tmp_path):
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path)
        env["HF_HUB_OFFLINE"] = "1"
        done = _run(hub, tmp_path, env=env)
        assert hub.requests == []
    assert done.returncode == 2
    # The variable that forbids the download is named (issue 25): not «no hay conexión… Conéctese a internet».
    assert done.stderr == ("Error: El modelo «prueba/vit-diminuto» no está en la caché de este equipo y la variable "
                           "de entorno HF_HUB_OFFLINE=1 prohíbe descargarlo: bórrela (o ponga HF_HUB_OFFLINE=0) y "
                           "ejecute el programa una vez con conexión, o use --modelo CARPETA.\n")


def test_the_endpoint_is_probed_on_its_own_port(monkeypatch, tiny_model_dir):
    from classifier.hub import locate as hub_module

    with FakeHub(tiny_model_dir) as hub:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(hub_module, "endpoint", lambda: hub.url)
        assert hub_module.hub_reachable()
        hub.stop()
        assert not hub_module.hub_reachable()


def test_a_proxy_that_lets_nothing_through_is_named(tiny_model_dir, tmp_path):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with FakeHub(tiny_model_dir) as hub:
        env = hub.env(tmp_path)
        env.pop("NO_PROXY"), env.pop("no_proxy")
        env["HTTP_PROXY"] = f"http://alumno:secreto@127.0.0.1:{port}"
        done = _run(hub, tmp_path, env=env)
        assert hub.requests == []
    assert done.returncode == 2 and done.stderr == (
        f"Error: El proxy (http://127.0.0.1:{port}) no dejó descargar el modelo «prueba/vit-diminuto»: revise las "
        "variables HTTPS_PROXY y HTTP_PROXY o pregunte a quien administra su red.\n")
    MODELS.add("hub: un proxy que no deja pasar")


def test_a_cache_folder_that_cannot_be_written(tiny_model_dir, tmp_path):
    blocker = tmp_path / "no-es-carpeta"
    blocker.write_text("")
    with FakeHub(tiny_model_dir) as hub:
        done = _run(hub, blocker)
        assert hub.requests == []  # refused before asking the hub anything
    assert done.returncode == 2
    assert done.stderr == (
        f"Error: No se puede escribir en la caché de modelos «{blocker / 'hub'}» (una parte de la ruta no es una "
        "carpeta): dé permiso de escritura a esa carpeta, o elija otra con la variable de entorno HF_HOME (por "
        "ejemplo, HF_HOME=~/hf python script_modelo.py).\n")


# --- a full disk: a small tmpfs (root), else skipped -------------------------------------------------------


@pytest.fixture()
def small_disk(tmp_path):
    """A mount point for a tmpfs of a given size; unmounted after."""
    mounted = []

    def mount(size):
        folder = tmp_path / f"disco{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"no se puede montar un tmpfs pequeño aquí ({done.stderr.strip() or 'sin permiso'})")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_disk_without_room_is_refused_before_downloading(tiny_model_dir, tmp_path, small_disk):
    home = small_disk("64k")
    with FakeHub(tiny_model_dir) as hub:
        done = _run(hub, home)
        assert not hub.gets("model.safetensors")
    assert done.returncode == 2 and done.stdout == ""
    match = re.fullmatch(
        r"Error: No hay espacio en el disco para descargar el modelo: quedan (\d+,\d) MB en «(.+)» y hacen falta unos "
        r"(\d+,\d) MB\. Libere espacio o elija otra carpeta con la variable de entorno HF_HOME, y vuelva a ejecutar "
        r"el programa\.\n", done.stderr)
    assert match, done.stderr
    assert match.group(2) == str(home / "hub") and match.group(3) == "0,1"
    TRIED.add("disco lleno antes de descargar")


def test_a_disk_that_fills_up_mid_download(medium_model_dir, tmp_path, small_disk, medium_expected):
    home = small_disk("40m")
    with FakeHub(medium_model_dir, rate=_slow_rate(medium_model_dir, 8)) as hub:
        program = subprocess.Popen(
            [sys.executable, "script_modelo.py", "--modelo", hub.repo_id, "--revision", REVISION, "-k", "3", PHOTO],
            cwd=REPO, env=hub.env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        blobs = home / "hub" / "models--prueba--vit-diminuto" / "blobs"
        _wait_for(lambda: any(p.name.endswith(".incomplete") and p.stat().st_size > 0 for p in blobs.glob("*")),
                  program)
        filler = home / "relleno"
        with open(filler, "wb") as file:  # someone else fills the disk meanwhile
            try:
                while True:
                    file.write(b"\0" * 65536)
                    file.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        out, err = program.communicate(timeout=120)
        assert program.returncode == 2 and out == "", err
        lines = err.splitlines()
        assert ANNOUNCE.match(lines[0])
        size = megabytes((medium_model_dir / "model.safetensors").stat().st_size)
        where = re.escape(str(home / "hub"))
        assert re.fullmatch(rf"Error: No hay espacio en el disco para descargar el modelo: quedan \d+,\d MB en "
                            rf"«{where}» y hacen falta unos {size} MB\. .+", lines[-1]), lines[-1]
        assert all(PLAIN.match(line) for line in lines[1:-1]), lines
        # Space made: the rerun finishes the download.
        filler.unlink()
        hub.rate = None
        assert not list(blobs.glob("*.incomplete"))  # the client removed its partial file
        again = _run(hub, home)
        assert again.returncode == 0 and again.stdout == medium_expected, again.stderr
    TRIED.add("disco lleno a mitad de descarga")


def _wait_for(condition, program, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert program.poll() is None, program.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _downloaders(repo):
    """Processes still running our download child for that repository."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"classifier.hub.child" in part for part in command) and repo.encode() in command:
            found.append(entry.name)
    return found


def test_ctrl_c_mid_download_then_the_rerun_completes(medium_model_dir, tmp_path, medium_expected):
    repo = "prueba/vit-interrumpido"
    with FakeHub(medium_model_dir, repo_id=repo, rate=_slow_rate(medium_model_dir, 20)) as hub:
        program = subprocess.Popen(
            [sys.executable, "script_modelo.py", "--modelo", repo, "--revision", REVISION, "-k", "3", PHOTO],
            cwd=REPO, env=hub.env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        blobs = tmp_path / "hub" / "models--prueba--vit-interrumpido" / "blobs"
        _wait_for(lambda: any(p.name.endswith(".incomplete") and p.stat().st_size >= CHUNK for p in blobs.glob("*")),
                  program)
        program.send_signal(signal.SIGINT)
        out, err = program.communicate(timeout=60)
        assert program.returncode == 130
        # The batch says what the desktop says: the download was cut, and will be tried again (issue 26, 11).
        assert out == "" and err.splitlines()[-2:] == [
            "", "Descarga interrumpida: el programa la intentará de nuevo la próxima vez."]
        assert ANNOUNCE.match(err.splitlines()[0])
        assert _downloaders(repo) == []  # the child went with it
        snapshot = tmp_path / "hub" / "models--prueba--vit-interrumpido" / "snapshots" / REVISION
        # Nothing partial passes for complete, and no partial file is left behind to fill the disk.
        assert not (snapshot / "model.safetensors").exists()
        assert not list(blobs.glob("*.incomplete"))
        hub.rate = None
        again = _run(hub, tmp_path, repo=repo)
        assert again.returncode == 0 and again.stdout == medium_expected, again.stderr
        # huggingface_hub 2.4 resumes a file only within one run: the interrupted one starts again.
        assert hub.gets("model.safetensors") == [None, None]
    TRIED.add("Ctrl+C a mitad de descarga")


# --- the desktop: the download window, on a virtual screen ---------------------------------------------


def _desktop(screen, hub, home, config):
    env = hub.env(home, base=screen.env())
    env["XDG_CONFIG_HOME"] = str(config)
    return subprocess.Popen(
        [sys.executable, "script_modelo.py", "--modelo", hub.repo_id, "--revision", REVISION, "-k", "3"],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _xdesktop():
    import xdesktop

    if xdesktop.available() is not None:
        pytest.skip(xdesktop.available())
    return xdesktop


def test_the_desktop_shows_the_download_window_then_the_result(tiny_model_dir, tmp_path, expected):
    xdesktop = _xdesktop()
    with FakeHub(tiny_model_dir, rate=_slow_rate(tiny_model_dir, 5)) as hub, \
            xdesktop.VirtualScreen(1024, 600) as screen:
        program = _desktop(screen, hub, tmp_path / "home", tmp_path / "config")
        try:
            window = screen.find("^Descargando el modelo", process=program)
            x, y, width, height = screen.geometry(window)
            assert 0 <= x and x + width <= 1024 and 0 <= y and y + height <= 600
            time.sleep(1)
            shot = screen.screenshot(window)
            shot.save(tmp_path / "descarga.png")
            screen.wait_gone(window)  # closes by itself when the download ends
            picker = screen.find("^Elija una", process=program)
            device = f"El modelo se ejecuta en la CPU ({os.cpu_count()} núcleos)."
            assert program.stdout.readline() == device + "\n"  # loaded behind the picker, as usual
            screen.type_and_enter(picker, PHOTO)
            result = screen.find("^Clasificador de im", process=program)
            screen.settled(result)
            screen.xdotool("windowfocus", "--sync", str(result))
            screen.xdotool("key", "Escape")
            out, err = program.communicate(timeout=60)
            out = device + "\n" + out
        finally:
            if program.poll() is None:
                program.kill()
    assert program.returncode == 0, err
    import numpy as np

    assert np.asarray(shot.convert("L")).std() > 10  # drawn, not blank
    _download_lines(err)
    assert out.splitlines() == [device, *expected.splitlines(), "¿Clasificar otra imagen? (s/n) n", "¡Hasta luego!"]


@pytest.mark.parametrize("how", ["Escape", "x"])
def test_cancelar_in_the_download_window_ends_the_program_as_ctrl_c(tiny_model_dir, tmp_path, how):
    xdesktop = _xdesktop()
    repo = f"prueba/vit-cancelado-{how.lower()}"
    with FakeHub(tiny_model_dir, repo_id=repo, rate=_slow_rate(tiny_model_dir, 60)) as hub, \
            xdesktop.VirtualScreen(1280, 1024) as screen:
        program = _desktop(screen, hub, tmp_path / "home", tmp_path / "config")
        try:
            window = screen.find("^Descargando el modelo", process=program)
            screen.settled(window, pause=0.3, timeout=3)
            if how == "x":
                screen.close(window)
            else:
                screen.xdotool("windowfocus", "--sync", str(window))
                screen.xdotool("key", "Escape")
            out, err = program.communicate(timeout=60)
        finally:
            if program.poll() is None:
                program.kill()
    assert program.returncode == 0
    assert out == "\nDescarga interrumpida: el programa la intentará de nuevo la próxima vez.\n"
    assert ANNOUNCE.match(err.splitlines()[0]) and len(err.splitlines()) == 1, err
    assert _downloaders(repo) == []
    TRIED.add(f"Cancelar la descarga ({'Esc' if how == 'Escape' else 'la x'})")


def test_sigterm_mid_download_ends_with_its_status_and_takes_the_child(tiny_model_dir, tmp_path):
    repo = "prueba/vit-terminado"
    with FakeHub(tiny_model_dir, repo_id=repo, rate=_slow_rate(tiny_model_dir, 60)) as hub:
        program = subprocess.Popen(
            [sys.executable, "script_modelo.py", "--modelo", repo, "--revision", REVISION, PHOTO],
            cwd=REPO, env=hub.env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: hub.gets("model.safetensors"), program)
        program.send_signal(signal.SIGTERM)
        out, err = program.communicate(timeout=60)
    assert program.returncode == 143 and out == ""
    assert err.splitlines()[-2:] == ["", "Detenido."] and ANNOUNCE.match(err.splitlines()[0])
    assert _downloaders(repo) == []
    TRIED.add("SIGTERM a mitad de descarga")


def test_the_terminal_session_without_a_screen_downloads_first_then_asks(tiny_model_dir, tmp_path, expected):
    from conftest import without_screen

    with FakeHub(tiny_model_dir, rate=_slow_rate(tiny_model_dir, 2)) as hub:
        done = subprocess.run(
            [sys.executable, "script_modelo.py", "--modelo", hub.repo_id, "--revision", REVISION, "-k", "3"],
            cwd=REPO, env=hub.env(tmp_path, base=without_screen()), input=f"{PHOTO}\nn\n", capture_output=True,
            text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    _download_lines(done.stderr)
    device = f"El modelo se ejecuta en la CPU ({os.cpu_count()} núcleos)."
    prompt = "Ruta de la imagen o de la carpeta (Intro sin nada para ninguna): "
    lines = done.stdout.splitlines()
    # The path is answered while the model loads, or after: «Cargando el modelo…» says which.
    loading = [prompt + device] if lines[1] == prompt + device else [prompt + "Cargando el modelo…", device]
    assert lines == ["No hay pantalla disponible: escriba la ruta de cada imagen en la terminal.", *loading,
                     *expected.splitlines(), "¿Clasificar otra imagen? (s/n) ¡Hasta luego!"]
