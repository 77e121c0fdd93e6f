"""A PNG's chunks: one walker, and what it finds: the metadata Pillow must not see, sBIT, a tEXt value."""

import bisect
import io
import itertools
import os
import struct
import zlib

from PIL import PngImagePlugin

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_MAX_CHUNKS = 10_000  # PNG chunks looked through for sBIT before the pixel data
_COMPRESSED_METADATA = {b"zTXt", b"iCCP", b"iTXt"}
_ANIMATION_CHUNKS = {b"acTL", b"fcTL", b"fdAT"}  # APNG frames: Pillow streams them, never keeps them
_MAX_METADATA_CHUNKS = 1000  # other ancillary chunks Pillow sees; a photo has a handful
_INFLATE_STEP = 1 << 20  # bytes unpacked at a time when measuring a compressed PNG text
# Pillow refuses a PNG whose text or colour profile (iCCP) unpacks past 1 MB as damaged; cameras and
# editors write XMP and profiles of several MB. The bounds stay, larger; what passes them Pillow
# does not see (_oversized_png_metadata).
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, 32 * 1024 * 1024)
PngImagePlugin.MAX_TEXT_MEMORY = max(PngImagePlugin.MAX_TEXT_MEMORY, 64 * 1024 * 1024)


def _oversized_png_metadata(fp, size):
    """(start, end) of the PNG metadata chunks that Pillow would refuse or keep past its bounds.

    Pillow refuses the whole file («dañado») for one text or colour profile that unpacks past
    MAX_TEXT_CHUNK, or texts past MAX_TEXT_MEMORY in all; it reads any other metadata chunk
    whole into memory, however large, and keeps every private one (two million empty ones:
    9 s and 230 MB). None of them makes a pixel: such chunks are left out of what Pillow sees
    and the picture is read. Every ancillary chunk but tRNS and the APNG frames counts,
    unpacked size for compressed ones, until MAX_TEXT_MEMORY or _MAX_METADATA_CHUNKS
    is spent. A compressed one is unpacked only up to MAX_TEXT_CHUNK, and all of them together
    only up to twice MAX_TEXT_MEMORY: past that, the next compressed ones are left out unread.
    Neighbouring ranges are merged.
    """
    hidden, budget, count = [], PngImagePlugin.MAX_TEXT_MEMORY, 0
    inflate_left = 2 * PngImagePlugin.MAX_TEXT_MEMORY  # measuring 200 bombs of 32 MB took 34 s
    for at, length, kind in _png_chunks(fp):
        end = at + 12 + length  # length, type, data, CRC
        if kind == b"IEND" or end > size:  # a truncated chunk is Pillow's to judge
            return hidden
        if kind[:1].islower() and kind not in _ANIMATION_CHUNKS:  # ancillary, not a frame
            if kind == b"tRNS":  # it does change the pixels: only a nonsense size is left out
                drop = length >= PngImagePlugin.MAX_TEXT_CHUNK
            else:
                limit = min(PngImagePlugin.MAX_TEXT_CHUNK, budget)
                if kind in _COMPRESSED_METADATA:
                    limit = min(limit, inflate_left)
                unpacked, inflated = _metadata_size(fp, kind, length, limit)
                inflate_left -= inflated
                count += 1
                drop = unpacked >= limit or count > _MAX_METADATA_CHUNKS
                budget -= 0 if drop else unpacked
            if drop and hidden and hidden[-1][1] == at:
                hidden[-1] = (hidden[-1][0], end)
            elif drop:
                hidden.append((at, end))
    return hidden


def _png_chunks(fp):
    """(offset, data length, type) of each PNG chunk after the signature, from its 8-byte header alone,
    until the file ends; fp is left just past the header, so the chunk's data can be read next."""
    at = len(_PNG_SIGNATURE)
    while True:
        fp.seek(at)
        header = fp.read(8)
        if len(header) < 8:
            return
        length, kind = struct.unpack(">I4s", header)
        yield at, length, kind
        at += 12 + length  # length, type, data, CRC


def _metadata_size(fp, kind, length, limit):
    """(a metadata chunk's size once read, bytes unpacked to measure it); its data is read from fp.

    A compressed one is unpacked only until its size reaches limit.
    """
    if kind not in _COMPRESSED_METADATA or length >= limit:
        return length, 0
    packed = _packed_text(kind, fp.read(length))
    inflater, unpacked = zlib.decompressobj(), 0
    try:
        while unpacked < limit and not inflater.eof:
            piece = inflater.decompress(packed, _INFLATE_STEP)
            packed = inflater.unconsumed_tail
            if not piece and not packed:
                break
            unpacked += len(piece)
    except zlib.error:  # Pillow keeps an empty text for data that is not zlib
        return length, unpacked
    return max(unpacked, length), unpacked


def _packed_text(kind, data):
    """The zlib stream of a zTXt, iCCP or compressed iTXt chunk's data; b"" when it has none."""
    keyword_end = data.find(b"\0")
    if keyword_end < 0:
        return b""
    if kind != b"iTXt":
        return data[keyword_end + 2:]  # after the keyword's NUL and the compression method
    if data[keyword_end + 1:keyword_end + 2] != b"\1":  # the compression flag: a plain text
        return b""
    rest = data[keyword_end + 3:].split(b"\0", 2)  # language, translated keyword, text
    return rest[2] if len(rest) == 3 else b""


class _Without:
    """A read-only, seekable view of a file with some byte ranges left out."""

    def __init__(self, fp, hidden, size):
        self._fp, self._at, self._parts = fp, 0, []  # (view offset, file offset, length)
        view = kept_from = 0
        for start, end in [*hidden, (size, size)]:
            if start > kept_from:
                self._parts.append((view, kept_from, start - kept_from))
                view += start - kept_from
            kept_from = end
        self._starts = [part[0] for part in self._parts]
        self._size = view

    def seek(self, offset, whence=os.SEEK_SET):
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._at, os.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self):
        return self._at

    def read(self, count=-1):
        if count is None or count < 0:
            count = max(0, self._size - self._at)
        pieces = []
        while count > 0 and self._at < self._size:
            view, start, length = self._parts[bisect.bisect_right(self._starts, self._at) - 1]
            self._fp.seek(start + self._at - view)
            piece = self._fp.read(min(count, view + length - self._at))
            if not piece:
                break
            pieces.append(piece)
            self._at += len(piece)
            count -= len(piece)
        return b"".join(pieces)


def _png_significant_bits(fp):
    """The sBIT chunk's grey (or first) value, read from the chunks before the pixel data; None without."""
    for _, length, kind in itertools.islice(_png_chunks(fp), _MAX_CHUNKS):
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"sBIT":
            data = fp.read(min(length, 4))
            return data[0] if data else None
    return None


def _png_text(head, keyword):
    """The value of a tEXt chunk before the pixel data in head (a file's first bytes), or None."""
    if not head.startswith(_PNG_SIGNATURE):
        return None
    fp = io.BytesIO(head)
    for _, length, kind in _png_chunks(fp):
        data = fp.read(length)
        if kind == b"IDAT" or len(data) < length:
            return None
        if kind == b"tEXt":
            key, _, value = data.partition(b"\0")
            if key == keyword:
                return value
    return None
