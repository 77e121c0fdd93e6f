"""Hostile files: content that would start a program, a pipe swapped in for a photo,
folders that cannot be read, and pictures whose bit depth would take gigabytes.

Each case goes through the functions the program uses: open_image and expand_inputs.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_fuzz import POSTSCRIPT, SEEDS

from classifier.base.errors import ImageError, InputError
from classifier.images import expand_inputs, open_image
from conftest import PHOTOS, REPO, reliability

SECONDS = 5
NOBODY = 65534


class TimeBoundExceeded(BaseException):
    """BaseException: the opener's own 'except Exception' must not swallow it."""


def _alarm(signum, frame):
    raise TimeBoundExceeded()


def _within_time_bound(function, *args):
    # A regression blocks in open(2); the alarm interrupts it so the test fails instead of hanging.
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    try:
        return function(*args)
    except TimeBoundExceeded:
        pytest.fail(f"{function.__name__} was still waiting after {SECONDS} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- content that would start another program ----------------------------------------------------

def _binary_eps(postscript):
    """A DOS EPS file: the binary header Pillow's EPS plugin also accepts, then the PostScript."""
    header = struct.pack("<4sIIIIIIH", b"\xc5\xd0\xd3\xc6", 30, len(postscript), 0, 0, 0, 0, 0xFFFF)
    return header + postscript


# Runs in a fresh interpreter: an audit hook cannot be removed, and this one refuses
# every way of starting a process (it raises), after noting which one was tried.
_AUDITED_OPEN = r"""
import json, sys

STARTS = ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork", "os.forkpty", "os.system", "os.startfile",
          "pty.spawn")
started = []

def refuse(event, args):
    if event in STARTS:
        started.append([event, repr(args)[:200]])
        raise RuntimeError("process start refused by the test")

sys.addaudithook(refuse)
from classifier.base.errors import ImageError
from classifier.images import open_image

outcomes = {}
for path in sys.argv[1:]:
    try:
        outcomes[path] = "RGB %dx%d" % open_image(path).size
    except ImageError as exc:
        outcomes[path] = str(exc)
print(json.dumps({"started": started, "outcomes": outcomes}))
"""


def _open_under_audit(paths):
    done = subprocess.run([sys.executable, "-c", _AUDITED_OPEN, *map(str, paths)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_no_file_makes_the_opener_start_a_program(tmp_path):
    # The proof holds without Ghostscript installed: Pillow tries to start it ("gs --version")
    # before knowing, and the hook sees that attempt.
    postscript = {"postscript.jpg": POSTSCRIPT, "postscript.png": POSTSCRIPT,
                  "eps-binario.tif": _binary_eps(POSTSCRIPT), "postscript": POSTSCRIPT}
    for name, data in postscript.items():
        (tmp_path / name).write_bytes(data)
    for name, data in SEEDS.items():
        (tmp_path / f"semilla-{name}").write_bytes(data)
    report = _open_under_audit(sorted(tmp_path.iterdir()))
    assert report["started"] == []
    for name in postscript:
        outcome = report["outcomes"][str(tmp_path / name)]
        assert outcome.endswith("es un documento PostScript, no una imagen."), outcome
    for name in SEEDS:
        outcome = report["outcomes"][str(tmp_path / f"semilla-{name}")]
        expected = "es un documento PostScript" if name == "postscript" else "RGB "
        assert expected in outcome, (name, outcome)


def test_the_formats_are_those_of_the_scanned_extensions_and_none_starts_a_program():
    from classifier.base.defaults import IMAGE_EXTENSIONS
    from classifier.images import readable_formats

    formats = readable_formats()
    assert "EPS" not in formats and len(set(formats)) == len(formats)
    registry = Image.registered_extensions()
    assert set(formats) == {registry[e] for e in IMAGE_EXTENSIONS if e in registry} - {"EPS"}
    for extension in (".eps", ".ps", ".pdf", ".mpeg"):  # other programs, or no decoder at all
        assert registry.get(extension) not in formats


# --- a pipe in place of the photo -----------------------------------------------------------------


def test_a_file_swapped_for_a_pipe_after_the_check_is_refused_at_once(tmp_path, monkeypatch):
    fifo = tmp_path / "foto.jpg"
    os.mkfifo(fifo)
    # The race: the check saw a regular file; by the open, the name stands for a pipe with no writer.
    monkeypatch.setattr("classifier.images.opening._check_regular_file", lambda path: None)
    with pytest.raises(ImageError, match="no es un archivo normal"):
        _within_time_bound(open_image, fifo)


def test_a_pipe_named_like_a_png_does_not_stall_the_folder_scan(tmp_path, monkeypatch):
    from classifier.images import is_map_file

    fifo = tmp_path / "a.png"
    os.mkfifo(fifo)
    assert _within_time_bound(is_map_file, fifo) is False
    monkeypatch.setattr("os.path.isfile", lambda path: True)  # swapped after the listing's check
    assert _within_time_bound(list, expand_inputs([str(tmp_path)])) == [(str(fifo), None)]


def test_a_regular_file_still_reads_after_the_non_blocking_open(tmp_path):
    path = tmp_path / "foto.png"
    Image.open(PHOTOS[0]).convert("RGB").save(path)
    np.testing.assert_array_equal(np.asarray(open_image(path)), np.asarray(Image.open(path).convert("RGB")))


# --- system files that say they are empty ----------------------------------------------------------


@pytest.mark.skipif(not os.path.isfile("/proc/cpuinfo"), reason="a system without /proc")
def test_a_system_file_that_says_zero_bytes_is_called_what_it_is_not_empty():
    """/proc/cpuinfo says 0 bytes (st_size) and reads as text: it is no picture, and not empty."""
    assert os.stat("/proc/cpuinfo").st_size == 0
    with open("/proc/cpuinfo", "rb") as fp:
        assert fp.read(64)  # the reference: it does read as something
    with pytest.raises(ImageError) as caught:
        _within_time_bound(open_image, "/proc/cpuinfo")
    message = str(caught.value)
    assert "es un archivo de texto, no una imagen" in message and "vacío" not in message, message


def test_a_zero_byte_system_file_that_would_wait_for_data_is_refused_at_once(tmp_path, monkeypatch):
    """/proc/kmsg says 0 bytes and a read waits for the next kernel message: a pipe with no writer
    behaves the same, and stands in for it once the stat has said «regular file, 0 bytes»."""
    fifo = tmp_path / "kmsg.jpg"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # a writer that never writes: a blocking read would wait forever
    real_stat = os.stat
    monkeypatch.setattr("os.stat", lambda path, *a, **k: os.stat_result((0o100644,) + real_stat(path)[1:6] + (0,)
                                                                       + real_stat(path)[7:10]))
    try:
        with pytest.raises(ImageError) as caught:
            _within_time_bound(open_image, fifo)
    finally:
        os.close(writer)
    assert "archivo especial del sistema" in str(caught.value), str(caught.value)


# --- a progressive JPEG that repeats its scans ------------------------------------------------------


def _jpeg_segments(data):
    """(marker, bytes) of each segment of a JPEG after SOI; a scan's data goes with its SOS header."""
    at, segments = 2, []
    while data[at + 1] != 0xD9:
        end = at + 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
        if data[at + 1] == 0xDA:  # entropy-coded data runs to the next marker that is not FF00 or RSTn
            while not (data[end] == 0xFF and data[end + 1] != 0 and not 0xD0 <= data[end + 1] <= 0xD7):
                end += 1
        segments.append((data[at + 1], data[at:end]))
        at = end
    return segments


def _scan_bomb(plain, path, scans):
    """The progressive JPEG plain with its smallest first AC scan repeated until it has `scans` scans.

    A first AC scan sets its band of coefficients: sent again right after itself, before the
    scans that refine that band, it sets them to the same values, and the pixels stay those
    of plain. Each one costs libjpeg a pass over the whole picture.
    """
    segments = _jpeg_segments(plain)
    written = [data for marker, data in segments if marker == 0xDA]
    # After the component list: spectral start, spectral end, successive approximation high | low.
    first_ac = [data for data in written if data[5 + 2 * data[4]] > 0 and data[7 + 2 * data[4]] >> 4 == 0]
    repeat = min(first_ac, key=len)
    path.write_bytes(b"\xff\xd8" + b"".join(data * (1 + (data is repeat) * (scans - len(written)))
                                             for _, data in segments) + b"\xff\xd9")
    return len(written)


def test_a_scan_bomb_is_refused_before_a_single_scan_is_decoded(tmp_path, monkeypatch):
    """A 2.1 MB progressive JPEG that repeats one empty scan 20 000 times took 70 s to decode. The
    scans are counted before Pillow decodes: past MAX_JPEG_SCANS, the file is refused and libjpeg
    never runs; at the limit, the picture is decoded and is that of the file without repeats."""
    from PIL import ImageFile

    plain = tmp_path / "plain.jpg"
    Image.open(PHOTOS[0]).convert("RGB").save(plain, progressive=True, quality=90, restart_marker_blocks=4)
    original = np.asarray(Image.open(plain).convert("RGB"))
    bomb = tmp_path / "bomba.jpg"
    assert _scan_bomb(plain.read_bytes(), bomb, 20_000) == 10  # libjpeg's colour progression
    decoded = []
    real_load = ImageFile.ImageFile.load

    def load(self):
        decoded.append(self.filename)
        return real_load(self)

    # The same bomb in the first picture of a camera's multi-picture file, which Pillow opens as MPO.
    two = tmp_path / "two.mpo"
    Image.open(plain).save(two, format="MPO", save_all=True, append_images=[Image.open(plain).rotate(90)],
                           progressive=True, quality=90)
    camera_bomb = tmp_path / "bomba-camara.jpg"
    _scan_bomb(two.read_bytes(), camera_bomb, 20_000)
    assert Image.open(camera_bomb).format == "MPO"
    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    for path in (bomb, camera_bomb):
        with pytest.raises(ImageError) as caught:
            _within_time_bound(open_image, path)
        assert "pasadas" in str(caught.value) and "bomba de descompresión" in str(caught.value), str(caught.value)
    assert decoded == []

    from classifier.images import MAX_JPEG_SCANS

    at_limit, past = tmp_path / "at-limit.jpg", tmp_path / "one-more.jpg"
    _scan_bomb(plain.read_bytes(), at_limit, MAX_JPEG_SCANS)
    _scan_bomb(plain.read_bytes(), past, MAX_JPEG_SCANS + 1)
    np.testing.assert_array_equal(np.asarray(open_image(at_limit)), original)
    decoded.clear()
    with pytest.raises(ImageError, match=f"más de {MAX_JPEG_SCANS} pasadas"):
        open_image(past)
    assert decoded == []


def test_scans_are_counted_through_stuffed_bytes_and_restart_markers(tmp_path):
    """libjpeg writes 10 scans for a progressive colour JPEG, 6 for grey, 1 for a baseline one;
    a photo's scan data is full of stuffed FF00 bytes, and restart markers cut it every 4 blocks."""
    from classifier.images.jpeg import _jpeg_scans

    photo = Image.open(PHOTOS[0]).convert("RGB")
    for mode, progressive, expected in (("RGB", True, 10), ("L", True, 6), ("RGB", False, 1)):
        path = tmp_path / f"{mode}-{progressive}.jpg"
        photo.convert(mode).save(path, progressive=progressive, quality=95, restart_marker_blocks=4)
        data = path.read_bytes()
        assert data.count(b"\xff\x00") > 100 and data.count(b"\xff\xd0") > 10
        with open(path, "rb") as fp:
            assert _jpeg_scans(fp, 1000) == expected, (mode, progressive)
    # Fill bytes: any number of FF may come before a marker; libjpeg reads the same picture.
    filled = tmp_path / "filled.jpg"
    progressive = tmp_path / "RGB-True.jpg"
    filled.write_bytes(progressive.read_bytes()[:2] + progressive.read_bytes()[2:]
                       .replace(b"\xff\xda", b"\xff\xff\xff\xda").replace(b"\xff\xc4", b"\xff\xff\xc4"))
    with open(filled, "rb") as fp:
        assert _jpeg_scans(fp, 1000) == 10
    np.testing.assert_array_equal(np.asarray(open_image(filled)), np.asarray(Image.open(progressive).convert("RGB")))


@pytest.mark.parametrize("window", [2, 3, 7, 4096])
def test_scans_are_counted_alike_whatever_the_window_the_file_is_read_through(tmp_path, monkeypatch, window):
    """The file is read a window at a time (a mapped file shortened meanwhile would kill the process):
    markers that straddle two windows, fill bytes included, count as in one read of the whole file."""
    from classifier.images import jpeg

    photo = Image.open(PHOTOS[0]).convert("RGB").resize((64, 48))
    counts = {}
    for progressive in (True, False):
        path = tmp_path / f"{progressive}.jpg"
        photo.save(path, progressive=progressive, quality=95, restart_marker_blocks=1)
        data = path.read_bytes()
        path.write_bytes(data[:2] + data[2:].replace(b"\xff\xda", b"\xff\xff\xff\xda"))
        with open(path, "rb") as fp:
            counts[progressive] = jpeg._jpeg_scans(fp, 1000)
    monkeypatch.setattr(jpeg, "_WINDOW_BYTES", window)
    for progressive, whole in counts.items():
        with open(tmp_path / f"{progressive}.jpg", "rb") as fp:
            assert jpeg._jpeg_scans(fp, 1000) == whole
    assert counts == {True: 10, False: 1}


# --- folders that cannot be read ------------------------------------------------------------------


@pytest.fixture()
def shared_folder():
    """A folder any user can enter: pytest's own live under a root-only folder when run as root."""
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)
    shutil.rmtree(folder)


def _picture(path):
    Image.new("RGB", (8, 6), (10, 200, 30)).save(path)
    path.chmod(0o644)


def _as_nobody(function):
    """function()'s JSON-able result, computed without root's power to read anything.

    As root, in a forked child that has dropped to user nobody (its interpreter is
    already loaded: the Python binary need not be readable by nobody).
    """
    if os.geteuid() != 0:
        return function()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write_end, json.dumps(function()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the unprivileged child failed"
    return json.loads(answer)


def _expanded(paths, recursive):
    return [[path, type(error).__name__ if error else None, str(error) if error else None]
            for path, error in expand_inputs(paths, recursive=recursive)]


def test_an_unreadable_subfolder_is_its_own_error_and_the_rest_is_classified(shared_folder):
    root = shared_folder
    for folder in ("b-cerrada", "c", "c/d-cerrada", "e"):
        (root / folder).mkdir()
        (root / folder).chmod(0o755)
    for name in ("a.png", "b-cerrada/dentro.png", "c/uno.png", "c/d-cerrada/dentro.png", "e/dos.png"):
        _picture(root / name)
    (root / "b-cerrada").chmod(0)
    (root / "c" / "d-cerrada").chmod(0)
    given = str(root)

    found = _as_nobody(lambda: _expanded([given], recursive=True))

    def joined(*names):
        return os.path.join(given, *names)

    assert [(path, kind) for path, kind, _ in found] == [
        (joined("a.png"), None),
        (joined("b-cerrada"), "InputError"),
        (joined("c", "uno.png"), None),
        (joined("c", "d-cerrada"), "InputError"),
        (joined("e", "dos.png"), None),
    ]
    for path, kind, sentence in found:
        if kind:
            assert sentence == f"No se puede leer el contenido de la carpeta «{path}» (permiso denegado)."
    # Without --recursive the closed subfolders are never entered: nothing to report.
    assert _as_nobody(lambda: _expanded([given], recursive=False)) == [[joined("a.png"), None, None]]


def test_an_unreadable_folder_given_itself_is_one_error(shared_folder):
    _picture(shared_folder / "a.png")
    shared_folder.chmod(0)
    given = str(shared_folder)
    assert _as_nobody(lambda: _expanded([given], recursive=True)) == [
        [given, "InputError", f"No se puede leer el contenido de la carpeta «{given}» (permiso denegado)."]]


def test_a_subfolder_past_the_path_length_limit_does_not_cost_the_others(tmp_path):
    # Root too cannot list a folder whose path is longer than PATH_MAX: this case needs no other user.
    name = "d" * 250
    _picture(tmp_path / "a.png")
    (tmp_path / "profunda").mkdir()
    _picture(tmp_path / "z.png")
    descriptor = os.open(tmp_path / "profunda", os.O_RDONLY)
    length, depth = len(str(tmp_path / "profunda")), 0
    try:
        while length < 4096 + 600:  # built relative to an open folder: the full path is never used
            os.mkdir(name, dir_fd=descriptor)
            inner = os.open(name, os.O_RDONLY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor, length, depth = inner, length + 1 + len(name), depth + 1
    finally:
        os.close(descriptor)
    found = list(expand_inputs([str(tmp_path)], recursive=True))
    assert [path for path, error in found if error is None] == [str(tmp_path / "a.png"), str(tmp_path / "z.png")]
    [(path, error)] = [(path, error) for path, error in found if error is not None]
    assert isinstance(error, InputError) and error.path == path
    assert len(os.fsencode(path)) > 4096 and path.startswith(str(tmp_path / "profunda" / name))
    assert str(error).endswith("(el nombre o la ruta es demasiado largo).")


# --- bit depths that would take gigabytes ---------------------------------------------------------

GIANT = 9400  # 88.4 million pixels: just under Pillow's decompression-bomb limit


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _giant_png(path, row, bit_depth, colour_type, chunks=b""):
    """9400 x 9400 PNG of a few hundred KB: one row, then every row "same as above"."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(b"\x00" + row)]
    up = b"\x02" + bytes(len(row))  # filter type 2 (Up) with zero differences
    parts += [compressor.compress(up) for _ in range(GIANT - 1)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", GIANT, GIANT, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + chunks
                     + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b""))


def _giant_sixteen_bit_png(path):
    """Grey 16-bit, a gradient from black to white on every row."""
    _giant_png(path, np.linspace(0, 65535, GIANT).astype(">u2").tobytes(), 16, 0)


def _giant_rgba_png(path):
    """Black on every pixel, its opacity a gradient from none to full on every row: over white, white to black."""
    pixels = np.zeros((GIANT, 4), np.uint8)
    pixels[:, 3] = np.linspace(0, 255, GIANT).round().astype(np.uint8)
    _giant_png(path, pixels.tobytes(), 8, 6)


def _giant_palette_png(path):
    """Palette with a transparent black (index 0) and an opaque red (index 1): the left half, then the right."""
    row = bytes(GIANT // 2) + bytes([1]) * (GIANT - GIANT // 2)
    _giant_png(path, row, 8, 3, _png_chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0])) + _png_chunk(b"tRNS", b"\x00\xff"))


def _giant_float_tiff(path, rows_per_strip=64):
    """9400 x 9400 float32 TIFF: every strip points at the same stored rows, a gradient 0..1."""
    strip = np.tile(np.linspace(0, 1, GIANT, dtype="<f4"), rows_per_strip).tobytes()
    strips = -(-GIANT // rows_per_strip)
    tags = [(256, 4, 1, GIANT), (257, 4, 1, GIANT), (258, 3, 1, 32), (259, 3, 1, 1), (262, 3, 1, 1),
            (273, 4, strips, None), (277, 3, 1, 1), (278, 4, 1, rows_per_strip), (279, 4, strips, None),
            (339, 3, 1, 3)]  # 339 SampleFormat 3: IEEE float
    ifd_at = 8
    arrays_at = ifd_at + 2 + 12 * len(tags) + 4
    data_at = arrays_at + 8 * strips
    last_rows = GIANT - rows_per_strip * (strips - 1)
    counts = [len(strip)] * (strips - 1) + [last_rows * GIANT * 4]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        if tag == 273:
            value = arrays_at
        elif tag == 279:
            value = arrays_at + 4 * strips
        ifd += struct.pack("<HHII", tag, kind, count, value) if kind == 4 or count > 1 else \
            struct.pack("<HHIHH", tag, kind, count, value, 0)
    ifd += struct.pack("<I", 0)
    arrays = struct.pack(f"<{strips}I", *[data_at] * strips) + struct.pack(f"<{strips}I", *counts)
    path.write_bytes(b"II*\x00" + struct.pack("<I", ifd_at) + ifd + arrays + strip)


_PEAK = r"""
import json, resource, sys
from classifier.images import open_image

def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux

before = peak_mib()
image = open_image(sys.argv[1])
print(json.dumps({"growth_mib": peak_mib() - before, "mode": image.mode, "size": image.size,
                  "corner": image.getpixel((GIANT - 1, GIANT - 1)), "middle": image.getpixel((GIANT // 2, 7)),
                  "left": image.getpixel((0, 7))}))
""".replace("GIANT", str(GIANT))


def _peak_growth(path):
    done = subprocess.run([sys.executable, "-c", _PEAK, str(path)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def giants(tmp_path_factory):
    folder = tmp_path_factory.mktemp("giants")
    _giant_sixteen_bit_png(folder / "16bit.png")
    _giant_float_tiff(folder / "float.tif")
    _giant_rgba_png(folder / "rgba.png")
    _giant_palette_png(folder / "paleta.png")
    return folder


# Pillow keeps an RGB picture as 4 bytes a pixel. At the peak, memory must hold the decoded
# picture and that RGB result (506 MiB for the 16-bit PNG, 674 MiB for the float TIFF);
# 64 MiB more covers the strip in flight (about 25 MiB of float64 work) and the decoder's
# buffers. Measured growth: 507 and 682 MiB; converting the whole picture in float64
# as before took 2,411 and 2,751 MiB.
ALLOWANCE_MIB = 64


@pytest.mark.parametrize(("name", "bytes_per_sample", "mode"), [("16bit.png", 2, "I;16"), ("float.tif", 4, "F")])
def test_a_giant_high_bit_depth_picture_needs_only_itself_and_its_rgb_copy(giants, name, bytes_per_sample, mode):
    assert Image.open(giants / name).mode == mode
    report = _peak_growth(giants / name)
    assert report["mode"] == "RGB" and report["size"] == [GIANT, GIANT]
    # The gradient runs left to right on every row: its right end is white, its middle mid-grey.
    assert report["corner"] == [255, 255, 255] and report["middle"] == [128, 128, 128]
    bound = GIANT * GIANT * (bytes_per_sample + 4) / 2**20 + ALLOWANCE_MIB
    assert report["growth_mib"] < bound, f"peak grew by {report['growth_mib']:.0f} MiB (bound {bound:.0f} MiB)"


# A transparent picture composited over white needs, as above, itself and its RGB result: 8 bytes a
# pixel for RGBA (Pillow keeps it in 4), 5 for a palette. Measured growth: 657 and 405 MiB; at once,
# the RGBA copy, the white background and the composite took 1,659 and 1,406 MiB.
@pytest.mark.parametrize(("name", "bytes_per_pixel", "mode", "corner", "left"),
                         [("rgba.png", 4, "RGBA", [0, 0, 0], [255, 255, 255]),
                          ("paleta.png", 1, "P", [255, 0, 0], [255, 255, 255])])
def test_a_giant_transparent_picture_needs_only_itself_and_its_rgb_copy(giants, name, bytes_per_pixel, mode,
                                                                        corner, left):
    assert Image.open(giants / name).mode == mode
    report = _peak_growth(giants / name)
    assert report["mode"] == "RGB" and report["size"] == [GIANT, GIANT]
    assert report["corner"] == corner and report["left"] == left
    bound = GIANT * GIANT * (bytes_per_pixel + 4) / 2**20 + ALLOWANCE_MIB
    assert report["growth_mib"] < bound, f"peak grew by {report['growth_mib']:.0f} MiB (bound {bound:.0f} MiB)"


# --- the conversion by strips gives today's pixels ------------------------------------------------


def _whole_picture_reference(samples):
    """The same mapping applied to the whole array at once: the pixels the strips must match.

    What the mapping itself should give is checked against twins in test_images.py; here only
    that cutting the picture into strips changes no pixel (the range is the whole picture's).
    """
    from classifier.images.pixels import _finite_range, _to_uint8

    return _to_uint8(samples, *_finite_range(samples))


def _samples(kind, rng, shape):
    if kind == "16 bits":
        return rng.integers(0, 65536, shape).astype(np.uint16)
    if kind == "32-bit integers":
        return rng.integers(-(2**31), 2**31 - 1, shape).astype(np.int32)
    if kind == "32-bit integers in 16-bit range":
        return rng.integers(0, 65536, shape).astype(np.int32)
    if kind == "floats 0..1":
        return rng.random(shape, dtype=np.float32)
    if kind == "floats 0..255":
        return (rng.random(shape) * 255).astype(np.float32)
    if kind == "floats 0..65535":
        return (rng.random(shape) * 65535).astype(np.float32)
    if kind == "floats with NaN and infinities":
        values = (rng.standard_normal(shape) * 1e4).astype(np.float32)
        values.flat[::7], values.flat[3::11], values.flat[5::13] = np.nan, np.inf, -np.inf
        return values
    if kind == "constant":
        return np.full(shape, 70000, np.int32)
    raise ValueError(kind)


_KINDS = ["16 bits", "32-bit integers", "32-bit integers in 16-bit range", "floats 0..1", "floats 0..255",
          "floats 0..65535", "floats with NaN and infinities", "constant"]


@pytest.mark.parametrize("kind", _KINDS)
def test_strips_give_the_pixels_of_the_whole_picture_conversion(monkeypatch, kind):
    import classifier.images.pixels

    # Small strips (100 samples: 3 rows of 37) so that a 37 x 50 picture spans many of them.
    monkeypatch.setattr(classifier.images.pixels, "_STRIP_SAMPLES", 100)
    samples = _samples(kind, np.random.default_rng(len(kind)), (50, 37))
    image = Image.fromarray(samples)
    if kind == "16 bits":
        assert image.mode == "I;16"
    expected = _whole_picture_reference(samples)
    result = np.asarray(classifier.images.pixels._to_rgb(image))
    assert result.shape == (50, 37, 3)
    for channel in range(3):
        np.testing.assert_array_equal(result[..., channel], expected)


def _converted(image):
    from classifier.images.pixels import _to_rgb

    return np.asarray(_to_rgb(image))


def test_every_sixteen_bit_value_maps_to_its_eight_bit_value():
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    result = _converted(Image.fromarray(values))[..., 0]
    # 16 bits to 8 as PNG's specification scales samples: v * 255 / 65535, rounded.
    np.testing.assert_array_equal(result.ravel(), np.rint(np.arange(65536) * 255 / 65535).astype(np.uint8))


@pytest.mark.parametrize("mode", ["I;16B", "I"])
def test_other_high_depth_modes_convert_as_their_samples_say(mode):
    values = np.arange(0, 65536, 97, dtype=np.int32)[:600].reshape(20, 30)
    image = Image.fromarray(values, "I")
    if mode != "I":
        image = image.convert(mode)
    assert image.mode == mode
    np.testing.assert_array_equal(_converted(image)[..., 1], np.rint(values * 255 / 65535).astype(np.uint8))


def test_a_folder_scan_opens_only_png_files_and_reads_only_their_head(tmp_path, monkeypatch):
    for name in ("a.jpg", "b.tif", "c.png"):
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    opened = []
    real_open = os.open

    def recording_open(path, *args, **kwargs):
        opened.append(os.path.basename(os.fspath(path)))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("os.open", recording_open)
    found = [os.path.basename(path) for path, error in expand_inputs([str(tmp_path)])]
    assert found == ["a.jpg", "b.tif", "c.png"] and opened == ["c.png"]


_CHILD_PEAK = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, done.stdout.count(b"\\n"))
"""


def _batch_peak_mib(model, *args):
    command = [sys.executable, "script_modelo.py", "--modelo", str(model), "-f", "json", *map(str, args)]
    done = subprocess.run([sys.executable, "-c", _CHILD_PEAK, *command], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    status, peak, lines = map(int, done.stdout.split())
    return status, peak, lines


def test_four_giants_in_fast_mode_cost_about_what_one_costs(giants, tiny_model_dir, tmp_path):
    """Fast mode decodes on several threads: giants must still come one at a time."""
    for index in range(4):
        os.symlink(giants / "16bit.png", tmp_path / f"gigante_{index}.png")
    status, one, _ = _batch_peak_mib(tiny_model_dir, "--rapido", tmp_path / "gigante_0.png")
    assert status == 0
    status, four, lines = _batch_peak_mib(tiny_model_dir, "--rapido", *sorted(tmp_path.iterdir()))
    assert status == 0 and lines == 4
    # One giant holds about 500 MiB while it is converted. Measured here: one 943 MiB, four one at a
    # time 1124 MiB (the allocator keeps some freed pages), four side by side 1486 MiB.
    assert four < one + 300, f"four giants peaked at {four} MiB, one at {one} MiB"
    reliability.setdefault("memoria", {})["cuatro gigantes de 16 bits en modo rápido"] = (one, four)


# --- transparent pictures, by strips ----------------------------------------------------------------


def _transparent(mode, rng):
    """A 37 x 50 picture of the mode, with varied transparency."""
    if mode in ("RGBA", "LA", "PA"):
        array = rng.integers(0, 256, (50, 37, 4 if mode == "RGBA" else 2), dtype=np.uint8)
        if mode != "PA":
            return Image.fromarray(array, mode)
        picture = Image.fromarray(array[..., 0], "L").convert("P").convert("PA")
        picture.putalpha(Image.fromarray(array[..., 1], "L"))
        return picture
    # One colour (or palette index) named transparent, as PNG's tRNS chunk does.
    channels = {"P": (), "RGB": (3,), "L": ()}[mode]
    picture = Image.fromarray(rng.integers(0, 4, (50, 37, *channels), dtype=np.uint8) * 85, "RGB" if channels else "L")
    picture = picture.convert("P") if mode == "P" else picture
    picture.info["transparency"] = {"P": 2, "RGB": (85, 170, 0), "L": 170}[mode]
    return picture


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "P", "RGB", "L"])
def test_transparent_strips_give_the_pixels_of_the_whole_picture_composite(monkeypatch, mode):
    import classifier.images.pixels

    picture = _transparent(mode, np.random.default_rng(len(mode)))
    # The whole-picture composite over white, as it was before the strips.
    whole = Image.alpha_composite(Image.new("RGBA", picture.size, (255, 255, 255, 255)),
                                  picture.convert("RGBA")).convert("RGB")
    assert len(set(np.asarray(whole).reshape(-1, 3)[:, 0].tolist())) > 2  # transparency changed something
    monkeypatch.setattr(classifier.images.pixels, "_STRIP_SAMPLES", 100)  # 3 rows of 37 a strip
    assert np.array_equal(np.asarray(classifier.images.pixels._to_rgb(picture)), np.asarray(whole))
