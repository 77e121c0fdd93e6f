"""Fuzzing the image opener: every mutated file opens as RGB or raises our Spanish error.

Valid JPEG, PNG, GIF, WebP, BMP and TIFF files, and a PostScript file, are mutated
(bit flips, truncations, splices, foreign headers, absurd dimensions) and fed to
classifier.images.open_image, the function the program uses. Nothing else may escape,
no case may run past a time bound or start another program (Pillow's EPS plugin
runs Ghostscript), and memory must stay bounded.

CI runs a fixed set of cases (FUZZ_EXAMPLES per format, 300 by default, derandomized).
A longer, random run:  FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py
Every crash it finds is saved under FUZZ_CRASHES (a temporary folder unless set; the run
names it), never in the source tree; a file copied into tests/fuzz_crashes/ is replayed below, on every run.
"""

import io
import os
import resource
import signal
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from classifier.base.errors import ImageError
from classifier.images import open_image
from conftest import reliability

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
SECONDS_PER_CASE = 10
MEMORY_BOUND_MB = 1024  # growth of peak RSS over the whole run
CRASHES = Path(__file__).parent / "fuzz_crashes"  # replayed on every run; a person adds to it, the fuzzer never
EXTENSIONS = [".jpg", ".JPG", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".jpeg", ".txt", ""]
ABSURD = [0, 1, 2, 255, 65535, 65536, 100_000, 2**31 - 1, 2**32 - 1]
POSTSCRIPT = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 40 30\n"
              b"newpath 0 0 moveto 40 0 lineto 40 30 lineto closepath 0.5 setgray fill\nshowpage\n")
# Every way Python starts another program, in the os module; subprocess goes through Popen.
PROCESS_STARTS = ["system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve", "execl",
                  "execle", "execlp", "execlpe", "execvp", "execvpe", "spawnv", "spawnve", "spawnvp", "spawnvpe",
                  "spawnl", "spawnle", "spawnlp", "spawnlpe", "startfile"]


class CaseTimeout(BaseException):
    """BaseException: the opener's own 'except Exception' must not swallow it."""


class ProcessStart(BaseException):
    """A decoder tried to start a program; BaseException for the same reason."""


@pytest.fixture()
def no_process_starts(monkeypatch):
    """Refuse and note every attempt to start a program while the test runs."""
    started = []

    def refusing(name):
        def trap(*args, **kwargs):
            started.append(name)
            raise ProcessStart(name)
        return trap

    monkeypatch.setattr(subprocess, "Popen", refusing("subprocess.Popen"))
    for name in PROCESS_STARTS:
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refusing(f"os.{name}"))
    yield started
    assert started == []


def _picture(width=24, height=16, mode="RGB"):
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB").convert(mode)


def _encode(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _seeds():
    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [_picture(), _picture(24, 16, "RGB").rotate(90, expand=False)]
    return {
        "jpeg": _encode(_picture(), "JPEG", quality=90, exif=exif),
        "jpeg-progressive": _encode(_picture(40, 30), "JPEG", progressive=True),
        "png": _encode(_picture(mode="RGBA"), "PNG"),
        "png-16bit": _encode(Image.fromarray((np.arange(24 * 16).reshape(16, 24) * 170).astype(np.uint16)), "PNG"),
        "gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "webp": _encode(_picture(), "WEBP", quality=80),
        "bmp": _encode(_picture(), "BMP"),
        "tiff": _encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "postscript": POSTSCRIPT,  # named .jpg or .png by the mutations: content, not name, picks the decoder
    }


SEEDS = _seeds()
FORMATS = sorted(SEEDS)


def _dimension_fields(name, data):
    """(offset, length, byte order) of the width and height fields of each seed's header."""
    if name.startswith("png"):
        return [(16, 4, "big"), (20, 4, "big")]
    if name == "bmp":
        return [(18, 4, "little"), (22, 4, "little")]
    if name == "gif":
        return [(6, 2, "little"), (8, 2, "little")]
    if name.startswith("jpeg"):
        for marker in (b"\xff\xc0", b"\xff\xc2"):
            at = data.find(marker)
            if at >= 0:
                return [(at + 5, 2, "big"), (at + 7, 2, "big")]
    if name == "webp":
        return [(26, 2, "little"), (28, 2, "little")]  # VP8 frame width and height
    if name == "tiff":
        return [(_tiff_tag_value(data, tag), 4, "little") for tag in (256, 257)]
    return []


def _tiff_tag_value(data, tag):
    first_ifd = int.from_bytes(data[4:8], "little")
    entries = int.from_bytes(data[first_ifd:first_ifd + 2], "little")
    for index in range(entries):
        at = first_ifd + 2 + 12 * index
        if int.from_bytes(data[at:at + 2], "little") == tag:
            return at + 8
    return 0


@st.composite
def mutated_files(draw):
    name = draw(st.sampled_from(FORMATS))
    data = bytearray(SEEDS[name])
    kinds = st.sampled_from(["flip", "truncate", "splice", "header", "dimensions", "insert", "delete"])
    for kind in draw(st.lists(kinds, min_size=1, max_size=4)):
        size = len(data)
        if size == 0:
            break
        position = draw(st.integers(0, size - 1))
        if kind == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[position:]
        elif kind == "splice":
            other = SEEDS[draw(st.sampled_from(FORMATS))]
            start = draw(st.integers(0, len(other) - 1))
            data[position:position + 64] = other[start:start + draw(st.integers(1, 64))]
        elif kind == "header":
            data[:12] = SEEDS[draw(st.sampled_from(FORMATS))][:12]
        elif kind == "dimensions":
            fields = _dimension_fields(name, bytes(data))
            if fields:
                offset, length, order = draw(st.sampled_from(fields))
                value = draw(st.sampled_from(ABSURD)) % (1 << (8 * length))
                data[offset:offset + length] = value.to_bytes(length, order)
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[position:position + draw(st.integers(1, 64))]
    return name, bytes(data), draw(st.sampled_from(EXTENSIONS))


def _alarm(signum, frame):
    raise CaseTimeout()


def _open_with_time_bound(path):
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, SECONDS_PER_CASE)
    try:
        return open_image(path)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _check_one(path, outcomes):
    try:
        image = _open_with_time_bound(path)
    except ImageError as exc:
        message = str(exc)
        assert message.startswith("No se puede clasificar «") and str(path) in message, message
        outcomes["error en español"] += 1
        return
    except CaseTimeout:
        pytest.fail(f"{path} ran past {SECONDS_PER_CASE} s")
    except ProcessStart as exc:
        pytest.fail(f"{path} made the opener start a program ({exc})")
    assert image.mode == "RGB" and image.width > 0 and image.height > 0
    outcomes["imagen RGB"] += 1


@pytest.fixture(scope="module")
def outcomes():
    counts = Counter()
    yield counts
    reliability["fuzz"] = counts


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning", "ignore::UserWarning")
def test_mutated_images_open_or_fail_in_spanish(tmp_path_factory, outcomes, no_process_starts):
    folder = tmp_path_factory.mktemp("fuzz")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    @settings(max_examples=EXAMPLES * len(FORMATS), deadline=None, database=None,
              derandomize="FUZZ_EXAMPLES" not in os.environ,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated_files())
    def case(mutated):
        name, data, extension = mutated
        path = folder / f"caso{extension}"
        path.write_bytes(data)
        outcomes["casos"] += 1
        try:
            _check_one(path, outcomes)
        except BaseException:
            failing.append(mutated)
            raise

    failing = []
    try:
        case()
    except BaseException:
        # Hypothesis replays the smallest failing case last: keep it for the replay test below.
        name, data, extension = failing[-1]
        found = Path(os.environ.get("FUZZ_CRASHES") or tempfile.mkdtemp(prefix="fuzz-crashes-"))
        found.mkdir(parents=True, exist_ok=True)
        saved = found / f"{name}-{len(os.listdir(found)):03d}{extension or '.bin'}"
        saved.write_bytes(data)
        print(f"\nCaso que falla guardado en {saved}: cópielo a tests/fuzz_crashes/ para repetirlo siempre.")
        raise
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak_before
    assert growth < MEMORY_BOUND_MB, f"peak memory grew by {growth:.0f} MB"
    assert outcomes["imagen RGB"] > 0 and outcomes["error en español"] > 0


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning", "ignore::UserWarning")
@pytest.mark.parametrize("path", sorted(CRASHES.iterdir()), ids=lambda p: p.name)
def test_every_file_the_fuzzer_ever_broke_us_with(path, no_process_starts):
    # tiff-000.tif, the 4 bytes "II*\0": a TIFF header with no directory offset made the cut-short
    # check raise struct.error past the opener (fixed in eceba32).
    _check_one(path, Counter())
