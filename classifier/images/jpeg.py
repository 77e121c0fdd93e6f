"""How many scans a JPEG has, counted marker by marker without decoding a pixel (the scan-bomb guard)."""

import re
import struct

# A progressive JPEG of ~100 KB per scan can repeat a tiny scan without end, and libjpeg goes
# over the whole picture for each one: 20 000 empty scans of 8000 x 8000 (2.1 MB) took 70 s.
# Encoders write ~10 (libjpeg: 10 in colour, 6 in grey); Skia, the decoder of Chrome and
# Android, gives up at the 100th scan, as this program does.
MAX_JPEG_SCANS = 100
# The next JPEG marker: FF, then a byte that is not 00 (a stuffed FF inside the entropy-coded
# data), nor RST0-7 (restart markers, part of a scan's data), nor FF (fill: the marker is the
# last FF's). libjpeg reads the stream the same way. A plain FF prefix lets the regex engine
# jump from FF to FF: 50 times as fast as "FF+" on a photo's data.
_JPEG_MARKER = re.compile(rb"\xff[\x01-\xcf\xd8-\xfe]")
_JPEG_SOS, _JPEG_EOI = 0xDA, 0xD9
_WINDOW_BYTES = 1 << 20  # read at a time when counting scans
# Huffman sequential and lossless frames: every scan spends at least a bit per block or sample,
# so its decoding costs what its bytes do, as in any picture. Progressive scans (EOB runs)
# and arithmetic coding can cover the whole picture in a few bytes.
_JPEG_BOUNDED_FRAMES = {0xC0, 0xC1, 0xC3}
_JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOF0-15 but DHT, JPG and DAC
_JPEG_NO_LENGTH = {0x01, 0xD8}  # TEM, SOI: markers without a segment (RST never matches)


def _jpeg_scans(fp, limit):
    """The number of scans (SOS markers) of a JPEG file's first picture, counted up to limit + 1.

    Marker by marker, as libjpeg reads the stream, jumping over each segment by its length
    and over each scan's data to the next marker: no pixel is decoded. The file is read a
    window at a time, not mapped: a mapped file that another program shortens meanwhile
    kills the process (SIGBUS). A stream that ends early is Pillow's to judge. A baseline
    photo (Huffman sequential) is not walked through: 1 at its first scan.
    """
    window = _Window(fp)
    scans, at, frame = 0, 2, None  # after SOI
    while scans <= limit:
        found = window.next_marker(at)
        if found is None:
            break
        marker, at = found
        if marker == _JPEG_EOI:
            break
        if marker in _JPEG_NO_LENGTH:
            continue
        length = window.bytes(at, 2)
        if len(length) < 2:
            break
        if marker in _JPEG_FRAMES:
            frame = marker
        if marker == _JPEG_SOS:
            scans += 1
            if frame in _JPEG_BOUNDED_FRAMES:
                break
        at += struct.unpack(">H", length)[0]
    return scans


class _Window:
    """A file read through one window of _WINDOW_BYTES at a time, for a search that moves forwards."""

    def __init__(self, fp):
        self._fp, self._start, self._data = fp, 0, b""

    def _load(self, at):
        self._fp.seek(at)
        self._start, self._data = at, self._fp.read(_WINDOW_BYTES)

    def bytes(self, at, count):
        if not self._start <= at <= at + count <= self._start + len(self._data):
            self._load(at)
        return self._data[at - self._start:at - self._start + count]

    def next_marker(self, at):
        """(marker byte, the offset after it) of the first JPEG marker at or after at; None at the end."""
        if not self._start <= at < self._start + len(self._data):
            self._load(at)
        while True:
            found = _JPEG_MARKER.search(self._data, at - self._start)
            if found:
                return self._data[found.end() - 1], self._start + found.end()
            if len(self._data) < _WINDOW_BYTES:  # the window reached the end of the file
                return None
            at = self._start + len(self._data) - 1  # its last byte may be a marker's FF
            self._load(at)
