"""Any file a user can pick: each case checked against a twin of the same picture."""

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from classifier.base.errors import ImageError, InputError
from classifier.images import expand_inputs, open_image
from conftest import PHOTOS


@pytest.fixture(scope="module")
def photo():
    """A real photo, cropped non-square so that a rotation changes its shape."""
    return Image.open(PHOTOS[0]).convert("RGB").crop((0, 0, 300, 200))


def _pixels(image):
    return np.asarray(image)


def _assert_same_picture(path, expected):
    image = open_image(path)
    assert image.mode == "RGB"
    assert image.size == expected.size
    np.testing.assert_array_equal(_pixels(image), _pixels(expected.convert("RGB")))


# --- orientation ------------------------------------------------------------------------------

# EXIF orientation -> what a camera stores, given the upright picture.
_STORED = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_90],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_270],
}


@pytest.mark.parametrize("orientation", sorted(_STORED))
def test_exif_orientation_gives_the_upright_picture(tmp_path, photo, orientation):
    stored = photo
    for step in _STORED[orientation]:
        stored = stored.transpose(step)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"rotated-{orientation}.png"
    stored.save(path, exif=exif)
    _assert_same_picture(path, photo)


def test_exif_rotated_jpeg_classifies_as_the_upright_file(tmp_path, photo, tiny_classifier):
    upright = tmp_path / "upright.jpg"
    rotated = tmp_path / "rotated.jpg"
    photo.save(upright, quality=100, subsampling=0)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.transpose(Image.Transpose.ROTATE_90).save(rotated, quality=100, subsampling=0, exif=exif)
    a, b = (open_image(p) for p in (upright, rotated))
    assert a.size == b.size == photo.size
    # JPEG blocks differ between the two layouts: equal up to compression noise.
    assert np.abs(_pixels(a).astype(int) - _pixels(b).astype(int)).mean() < 2
    [pa], [pb] = tiny_classifier.classify([a], 3), tiny_classifier.classify([b], 3)
    assert [p.label for p in pa] == [p.label for p in pb]


# --- bit depth --------------------------------------------------------------------------------


def _grey(photo):
    return photo.convert("L")


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_sixteen_bit_file_is_its_eight_bit_twin(tmp_path, photo, fmt):
    grey = _grey(photo)
    sixteen = Image.fromarray(_pixels(grey).astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    path = tmp_path / f"sixteen.{fmt.lower()}"
    sixteen.save(path, fmt)
    assert Image.open(path).mode.startswith("I;16")
    _assert_same_picture(path, grey)


def test_plain_convert_would_have_turned_sixteen_bit_white(tmp_path, photo):
    # The bug this guards against: Pillow clips 16-bit values at 255 on convert("RGB").
    path = tmp_path / "sixteen.png"
    Image.fromarray(_pixels(_grey(photo)).astype(np.uint16) * 257).save(path)
    assert _pixels(Image.open(path).convert("RGB")).mean() > 250
    assert abs(_pixels(open_image(path)).mean() - _pixels(_grey(photo)).mean()) < 0.01


def test_thirty_two_bit_integer_file_is_its_eight_bit_twin(tmp_path, photo):
    grey = _grey(photo)
    path = tmp_path / "int32.tif"
    Image.fromarray(_pixels(grey).astype(np.int32) * 257).save(path)
    assert Image.open(path).mode == "I"
    _assert_same_picture(path, grey)


def test_float_file_in_zero_one_is_its_eight_bit_twin(tmp_path, photo):
    grey = _grey(photo)
    path = tmp_path / "float.tif"
    Image.fromarray(_pixels(grey).astype(np.float32) / 255).save(path)
    assert Image.open(path).mode == "F"
    _assert_same_picture(path, grey)


def test_out_of_range_data_is_stretched_not_clipped(tmp_path):
    values = np.linspace(-5000.0, 3e6, 64 * 32).reshape(32, 64).astype(np.float32)
    path = tmp_path / "wide.tif"
    Image.fromarray(values).save(path)
    expected = np.rint((values.astype(np.float64) - values.min()) * 255 / (values.max() - values.min()))
    result = _pixels(open_image(path))[..., 0]
    np.testing.assert_array_equal(result, expected.astype(np.uint8))
    assert result.min() == 0 and result.max() == 255


# Blocks of +inf, -inf and NaN. +inf and -inf are the ends of the scale, white and black; NaN,
# a sample without a value, is white as a transparent pixel is. The rest must be as if the
# blocks were not there.
_NON_FINITE = {np.inf: np.s_[20:60, 30:90], -np.inf: np.s_[80:120, 30:90], np.nan: np.s_[140:180, 30:90]}


def _with_non_finite(values):
    values = values.astype(np.float32)
    for value, where in _NON_FINITE.items():
        values[where] = value
    return values


def test_a_float_picture_with_infinities_and_nan_keeps_its_other_pixels(tmp_path, photo):
    grey = _pixels(_grey(photo))
    values = _with_non_finite(grey / 255)
    path = tmp_path / "float-nan.tif"
    Image.fromarray(values, "F").save(path)
    assert Image.open(path).mode == "F"
    expected = grey.copy()  # the 8-bit photo the floats were made from, the blocks painted on it
    expected[_NON_FINITE[np.inf]] = 255
    expected[_NON_FINITE[-np.inf]] = 0
    expected[_NON_FINITE[np.nan]] = 255
    np.testing.assert_array_equal(_pixels(open_image(path))[..., 0], expected)


def test_a_stretched_float_picture_takes_its_range_from_its_finite_values(tmp_path, photo):
    values = _with_non_finite(_pixels(_grey(photo)).astype(np.float64) * 40.0 - 3000.0)
    path = tmp_path / "float-wide-nan.tif"
    Image.fromarray(values, "F").save(path)
    # The reference, with numpy: the finite values stretched from their minimum to their maximum.
    finite = np.ma.masked_invalid(values.astype(np.float64))
    expected = np.rint((finite - finite.min()) * 255.0 / (finite.max() - finite.min())).filled(0).astype(np.uint8)
    expected[np.isposinf(values) | np.isnan(values)] = 255
    expected[np.isneginf(values)] = 0
    result = _pixels(open_image(path))[..., 0]
    np.testing.assert_array_equal(result, expected)
    assert result[np.isfinite(values)].min() == 0 and result[np.isfinite(values)].max() == 255


@pytest.mark.parametrize(("value", "grey"), [(np.inf, 255), (-np.inf, 0), (np.nan, 255)])
def test_a_float_picture_without_a_finite_value_is_one_colour(tmp_path, value, grey):
    path = tmp_path / "float-none.tif"
    Image.fromarray(np.full((30, 40), value, np.float32), "F").save(path)
    np.testing.assert_array_equal(_pixels(open_image(path)), np.full((30, 40, 3), grey, np.uint8))


# --- transparency -----------------------------------------------------------------------------


def _with_hole(photo):
    """The photo with a transparent rectangle whose hidden colour is black, and its white twin."""
    rgba = photo.convert("RGBA")
    pixels = np.array(rgba)
    pixels[50:150, 100:250] = (0, 0, 0, 0)
    white = np.array(photo)
    white[50:150, 100:250] = 255
    return Image.fromarray(pixels, "RGBA"), Image.fromarray(white, "RGB")


def test_transparent_png_is_its_white_backed_twin(tmp_path, photo):
    transparent, white = _with_hole(photo)
    path = tmp_path / "hole.png"
    transparent.save(path)
    _assert_same_picture(path, white)


def test_grey_with_alpha_is_its_white_backed_twin(tmp_path, photo):
    transparent, white = _with_hole(photo)
    path = tmp_path / "hole-la.png"
    transparent.convert("LA").save(path)
    assert Image.open(path).mode == "LA"
    _assert_same_picture(path, white.convert("L"))


def _palette_with_transparent_index(path):
    """A 40 x 30 palette picture whose index 0 is transparent, saved at path; what it is over white."""
    palette = Image.new("P", (40, 30), 0)
    palette.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    palette.paste(1, (10, 10, 30, 20))
    palette.save(path, transparency=0)
    expected = np.full((30, 40, 3), 255, np.uint8)
    expected[10:20, 10:30] = (200, 30, 30)
    return expected


def test_palette_with_transparent_index_is_white_backed(tmp_path):
    path = tmp_path / "transparent.gif"
    expected = _palette_with_transparent_index(path)
    np.testing.assert_array_equal(_pixels(open_image(path)), expected)


def test_partial_alpha_is_blended_onto_white(tmp_path):
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    path = tmp_path / "partial.png"
    Image.fromarray(rgba, "RGBA").save(path)
    alpha = rgba[..., 3:].astype(float) / 255
    expected = rgba[..., :3] * alpha + 255 * (1 - alpha)
    assert np.abs(_pixels(open_image(path)).astype(float) - expected).max() <= 1


def _bmp32(path, rgb, alpha, header=40, alpha_mask=None):
    """A 32-bit BMP of rgb and alpha bytes, as Windows writers lay it out (BGRA, bottom row first).

    header 40 (BITMAPINFOHEADER) with no mask: BI_RGB, where the fourth byte means nothing.
    alpha_mask given: BI_BITFIELDS, and in a V4 (108) or V5 (124) header the mask names that
    byte as alpha.
    """
    height, width, _ = rgb.shape
    pixels = _bgra_rows(rgb, alpha)
    compression = 0 if alpha_mask is None else 3
    info = struct.pack("<IiiHHIIiiII", header, width, height, 1, 32, compression, len(pixels), 2835, 2835, 0, 0)
    if alpha_mask is not None:
        info += struct.pack("<IIII", 0xFF0000, 0xFF00, 0xFF, alpha_mask)
    info = info.ljust(header, b"\0")
    offset = 14 + len(info)
    path.write_bytes(b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + pixels)


@pytest.mark.parametrize(("header", "alpha_mask"), [(40, None), (108, None), (108, 0xFF000000), (124, 0xFF000000)],
                         ids=["BI_RGB", "BI_RGB V4", "alpha mask V4", "alpha mask V5"])
def test_a_32_bit_bmp_whose_alpha_bytes_are_all_zero_shows_its_colours(tmp_path, photo, header, alpha_mask):
    rgb = _pixels(photo)
    path = tmp_path / "zero-alpha.bmp"
    _bmp32(path, rgb, np.zeros(rgb.shape[:2], np.uint8), header, alpha_mask)
    assert Image.open(path).mode == ("RGB" if alpha_mask is None else "RGBA")
    twin = tmp_path / "twin.bmp"
    photo.save(twin)  # the same pixels as Pillow writes a 24-bit BMP
    assert Image.open(twin).info.get("compression", 0) == 0 and Image.open(twin).mode == "RGB"
    _assert_same_picture(path, Image.open(twin))


def test_a_32_bit_bmp_with_a_used_alpha_mask_is_its_transparent_png_twin(tmp_path, photo):
    transparent, white = _with_hole(photo)
    rgba = _pixels(transparent)
    path = tmp_path / "alpha.bmp"
    _bmp32(path, rgba[..., :3], rgba[..., 3], 124, 0xFF000000)
    _assert_same_picture(path, white)


def _bgra_rows(rgb, alpha):
    """BGRA bytes, bottom row first, as BMP, ICO and bottom-up TGA files store 32-bit pixels."""
    return np.dstack([rgb[..., 2], rgb[..., 1], rgb[..., 0], alpha]).astype(np.uint8)[::-1].tobytes()


def test_a_32_bit_icon_whose_alpha_bytes_are_all_zero_shows_its_colours(tmp_path, photo):
    rgb = _pixels(photo.crop((0, 0, 64, 64)))
    pixels = _bgra_rows(rgb, np.zeros((64, 64), np.uint8))
    and_mask = bytes(8 * 64)  # one bit a pixel, rows of 4-byte words; 0: opaque
    dib = struct.pack("<IiiHHIIiiII", 40, 64, 128, 1, 32, 0, len(pixels) + len(and_mask), 0, 0, 0, 0)
    dib += pixels + and_mask
    path = tmp_path / "icono.ico"
    path.write_bytes(struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 64, 64, 0, 0, 1, 32, len(dib), 22) + dib)
    assert Image.open(path).mode == "RGBA"
    twin = tmp_path / "twin.png"
    Image.fromarray(rgb).save(twin)
    _assert_same_picture(path, Image.open(twin))


@pytest.mark.parametrize("alpha_bits", [0, 8])
def test_a_32_bit_tga_whose_alpha_bytes_are_all_zero_shows_its_colours(tmp_path, photo, alpha_bits):
    rgb = _pixels(photo)
    height, width, _ = rgb.shape
    header = struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, width, height, 32, alpha_bits)  # bottom-up
    path = tmp_path / "sin-alfa.tga"
    path.write_bytes(header + _bgra_rows(rgb, np.zeros((height, width), np.uint8)))
    assert Image.open(path).mode == "RGBA"
    twin = tmp_path / "twin.tga"
    photo.save(twin)  # the same pixels as Pillow writes a 24-bit TGA
    assert Image.open(twin).mode == "RGB"
    _assert_same_picture(path, Image.open(twin))


# --- other modes, frames, formats -------------------------------------------------------------


def test_cmyk_file_is_its_rgb_twin(tmp_path, photo):
    path = tmp_path / "cmyk.tif"
    photo.convert("CMYK").save(path)
    assert Image.open(path).mode == "CMYK"
    _assert_same_picture(path, photo)


def test_cmyk_jpeg_opens(tmp_path, photo):
    path = tmp_path / "cmyk.jpg"
    photo.convert("CMYK").save(path, quality=95)
    image = open_image(path)
    assert image.mode == "RGB" and image.size == photo.size
    assert np.abs(_pixels(image).astype(int) - _pixels(photo).astype(int)).mean() < 8


def test_one_bit_file_is_its_black_and_white_twin(tmp_path, photo):
    bilevel = photo.convert("1")
    path = tmp_path / "bilevel.png"
    bilevel.save(path)
    _assert_same_picture(path, bilevel.convert("L"))


def test_palette_file_is_its_rgb_twin(tmp_path, photo):
    palette = photo.quantize(64)
    path = tmp_path / "palette.png"
    palette.save(path)
    _assert_same_picture(path, palette.convert("RGB"))


def _frames():
    return [Image.new("RGB", (24, 16), colour) for colour in [(250, 10, 10), (10, 250, 10), (10, 10, 250)]]


@pytest.mark.parametrize("name", ["animated.gif", "pages.tif", "animated.webp", "animated.png"])
def test_animated_and_multipage_files_give_the_first_frame(tmp_path, name):
    first, *rest = _frames()
    path = tmp_path / name
    first.save(path, save_all=True, append_images=rest, **({"lossless": True} if name.endswith("webp") else {}))
    assert getattr(Image.open(path), "n_frames", 1) == 3
    _assert_same_picture(path, first)


@pytest.mark.parametrize("name", ["a.png", "b.bmp", "c.tif", "d.tiff", "e.webp", "f.ppm", "g.tga", "h.JPG",
                                  "i.Jpeg", "j.jpeg", "k.gif", "l.qoi"])
def test_formats_and_extension_cases(tmp_path, photo, name):
    path = tmp_path / name
    options = {"lossless": True} if name.endswith("webp") else {"quality": 100} if "jp" in name.lower() else {}
    picture = photo.quantize(256).convert("RGB") if name.endswith("gif") else photo
    picture.save(path, **options)
    if "jp" in name.lower():
        assert np.abs(_pixels(open_image(path)).astype(int) - _pixels(photo).astype(int)).mean() < 2
    else:
        _assert_same_picture(path, picture)


def test_paths_with_spaces_and_non_ascii_letters(tmp_path, photo):
    folder = tmp_path / "fotos de Begoña" / "año 2024"
    folder.mkdir(parents=True)
    path = folder / "Ñandú en el café.PNG"
    photo.save(path, format="PNG")
    _assert_same_picture(path, photo)
    assert [p for p, _ in expand_inputs([str(folder)])] == [str(path)]


# --- errors: one Spanish sentence naming the path ------------------------------------------------


def _png_header(width, height):
    """A PNG whose header claims width x height, with a first block of pixel data after it."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _truncated(source, tmp_path, name, keep):
    data = source.read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _error_cases(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("Lista de la compra: pan, leche, café.\n", encoding="utf-8")
    pdf = tmp_path / "invoice.jpg"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.png"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    huge = tmp_path / "bomb.png"
    huge.write_bytes(_png_header(20000, 20000))
    band = tmp_path / "almost-bomb.png"
    band.write_bytes(_png_header(10000, 10000))  # between one and two times Pillow's limit
    jpeg = tmp_path / "whole.jpg"
    Image.open(PHOTOS[0]).convert("RGB").save(jpeg, quality=90)
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    return [
        (tmp_path / "missing.jpg", "no existe"),
        (tmp_path, "es una carpeta"),
        (fifo, "no es un archivo normal"),
        (empty, "está vacío"),
        (text, "archivo de texto"),
        (pdf, "documento PDF"),
        (_truncated(jpeg, tmp_path, "cut.jpg", 0.5), "dañado o incompleto"),
        (_truncated(PHOTOS[0], tmp_path, "cut.png", 0.5), "dañado o incompleto"),
        (noise, "no es una imagen"),
        (huge, "bomba de descompresión"),
        (band, "bomba de descompresión"),
    ]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_each_bad_file_gets_a_spanish_sentence_naming_it(tmp_path):
    for path, phrase in _error_cases(tmp_path):
        with pytest.raises(ImageError) as caught:
            open_image(path)
        message = str(caught.value)
        assert phrase in message, (path, message)
        assert f"«{path}»" in message
        assert message.startswith("No se puede clasificar") and message.endswith(".")


def test_folder_inputs_are_sorted_filtered_and_joined_as_given(tmp_path, photo):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    for name in ["b.png", "A.jpg", "c.TXT", ".hidden.png", "sub/z.png", "sub/deeper/y.bmp"]:
        photo.save(tmp_path / name, format="PNG" if not name.endswith("jpg") else "JPEG")
    given = str(tmp_path) + os.sep
    flat = [p for p, e in expand_inputs([given])]
    assert flat == [os.path.join(given, "A.jpg"), os.path.join(given, "b.png")]
    deep = [p for p, e in expand_inputs([given], recursive=True)]
    # A folder's own files first, then its subfolders, as a file manager lists them.
    assert deep == flat + [os.path.join(given, "sub", "z.png"), os.path.join(given, "sub", "deeper", "y.bmp")]


def test_folder_without_images_is_an_error_not_a_silent_skip(tmp_path):
    (tmp_path / "readme.txt").write_text("nada")
    [(path, error)] = list(expand_inputs([str(tmp_path)]))
    assert path == str(tmp_path)
    assert isinstance(error, InputError)
    assert "no contiene imágenes" in str(error) and str(tmp_path) in str(error)


def test_a_folder_of_iphone_photos_says_what_they_are_and_how_to_convert_them(tmp_path):
    # A folder of HEIC photos said «no contiene imágenes»: the student saw photos there, and never
    # reached the sentence each file gets on its own.
    from classifier.images import open_image

    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)  # an iPhone photo's first box
    for name in ("IMG_0001.HEIC", "IMG_0002.heic", "IMG_0003.heif"):
        (tmp_path / name).write_bytes(heic)
    (tmp_path / "notas.pdf").write_bytes(b"%PDF-1.4\n")
    (tmp_path / "leeme.txt").write_text("nada")
    [(path, error)] = list(expand_inputs([str(tmp_path)]))
    assert path == str(tmp_path) and isinstance(error, InputError)
    assert str(error) == (f"La carpeta «{tmp_path}» no contiene imágenes que se puedan leer: tiene 3 fotos HEIC/HEIF "
                          "(el formato de los iPhone) y 1 documento PDF; conviértalas a JPEG o PNG para clasificarlas.")
    with pytest.raises(ImageError) as one:  # the same words as each file's own sentence
        open_image(str(tmp_path / "IMG_0001.HEIC"))
    assert "foto HEIC/HEIF (el formato de los iPhone)" in str(one.value)


def test_files_and_missing_paths_pass_through_in_order(tmp_path):
    inputs = ["x.jpg", str(tmp_path / "nope"), "y.png"]
    assert list(expand_inputs(inputs)) == [(p, None) for p in inputs]


def test_fast_decoding_shrinks_a_jpeg_but_not_below_the_model_input(tmp_path):
    path = tmp_path / "big.jpg"
    Image.open(PHOTOS[0]).convert("RGB").resize((4000, 3000)).save(path, quality=90)
    reduced = open_image(path, min_size=(224, 224))
    assert reduced.mode == "RGB"
    assert 224 <= min(reduced.size) and max(reduced.size) <= 1000  # 1/8 scale: 500 x 375
    assert open_image(path).size == (4000, 3000)


def test_a_file_that_vanishes_between_the_check_and_the_read(tmp_path, monkeypatch):
    path = tmp_path / "se_fue.png"
    Image.new("RGB", (4, 4)).save(path)
    real_open = os.open

    def vanishing_open(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise FileNotFoundError(2, "No such file or directory")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("os.open", vanishing_open)
    with pytest.raises(ImageError, match=r"no se pudo leer el archivo \(no existe\)\.$"):
        open_image(path)


# --- what a file declares about its samples, big chunks, vector drawings --------------------------


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _with_chunk_before_idat(source, chunk):
    """source's PNG bytes with chunk inserted right after IHDR."""
    data = source.read_bytes()
    at = 8 + 8 + 13 + 4
    return data[:at] + chunk + data[at:]


def test_a_sixteen_bit_grey_png_with_a_transparent_value_is_white_backed(tmp_path, photo):
    grey = np.array(_grey(photo))
    grey[grey == 77] = 78  # 77 becomes the transparent value alone
    grey[50:150, 100:250] = 77
    path = tmp_path / "trns16.png"
    Image.fromarray(grey.astype(np.uint16) * 257).save(path, transparency=77 * 257)
    assert Image.open(path).info.get("transparency") == 77 * 257
    white = grey.copy()
    white[50:150, 100:250] = 255
    _assert_same_picture(path, Image.fromarray(white, "L"))


def test_a_sixteen_bit_rgb_png_with_a_transparent_colour_is_white_backed(tmp_path, photo):
    rgb = _pixels(photo).copy()
    colour = (77, 140, 200)
    rgb[(rgb == colour).all(axis=2)] = (77, 140, 201)  # the colour only where it is set
    rgb[50:150, 100:250] = colour
    # True 16-bit samples: the photo in the high bytes, anything in the low ones.
    sixteen = rgb.astype(np.uint16) * 256 + np.random.default_rng(5).integers(0, 256, rgb.shape, dtype=np.uint16)
    key = (77 * 256 + 13, 140 * 256 + 200, 200 * 256 + 99)
    sixteen[50:150, 100:250] = key
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in sixteen)  # filter 0, big-endian samples
    height, width, _ = rgb.shape
    path = tmp_path / "trns-rgb16.png"
    path.write_bytes(_PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
                     + _chunk(b"tRNS", struct.pack(">3H", *key))
                     + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))
    # The reference: the high bytes (the 8 bits Pillow reads) as an 8-bit PNG, the colour transparent.
    twin = tmp_path / "trns-rgb8.png"
    Image.fromarray(rgb).save(twin, transparency=colour)
    white = rgb.copy()
    white[50:150, 100:250] = 255
    _assert_same_picture(twin, Image.fromarray(white))
    _assert_same_picture(path, Image.fromarray(white))


@pytest.mark.parametrize("bits", [8, 12])
def test_a_sixteen_bit_png_with_fewer_significant_bits_is_its_eight_bit_twin(tmp_path, photo, bits):
    grey = _pixels(_grey(photo)).astype(np.int64)
    top = 2**bits - 1
    stored = (grey * top + 127) // 255  # the data use `bits` bits, stored low in 16-bit samples
    plain = tmp_path / "plain.png"
    Image.fromarray(stored.astype(np.uint16)).save(plain)
    path = tmp_path / f"sbit{bits}.png"
    path.write_bytes(_with_chunk_before_idat(plain, _chunk(b"sBIT", bytes([bits]))))
    expected = np.rint(stored * 255.0 / top).astype(np.uint8)
    np.testing.assert_array_equal(_pixels(open_image(path))[..., 0], expected)
    assert np.abs(expected.astype(int) - grey).max() <= 1  # the photo itself, within rounding


def test_a_tiff_with_a_declared_maximum_sample_is_scaled_to_it(tmp_path, photo):
    grey = _pixels(_grey(photo)).astype(np.int64)
    stored = (grey * 4095 + 127) // 255  # 12-bit camera data in 16-bit samples
    path = tmp_path / "smax.tif"
    Image.fromarray(stored.astype(np.uint16)).save(path, tiffinfo={341: 4095})
    assert Image.open(path).tag_v2.get(341) in (4095, (4095,))
    np.testing.assert_array_equal(_pixels(open_image(path))[..., 0], np.rint(stored * 255.0 / 4095).astype(np.uint8))


def _unsigned_32_bit_tiff(path, values):
    """A TIFF of unsigned 32-bit samples (SampleFormat 1), which Pillow writes only as signed."""
    image = Image.frombytes("I", values.shape[::-1], values.astype("<u4").tobytes(), "raw", "I;32")
    image.save(path, tiffinfo={339: 1})
    _set_short_tiff_tag(path, 339, 1)


def _set_short_tiff_tag(path, tag, value):
    """Rewrite a SHORT tag of a little-endian TIFF's first IFD in place (Pillow chooses some itself)."""
    data = bytearray(path.read_bytes())
    first = struct.unpack("<I", data[4:8])[0]
    for index in range(struct.unpack("<H", data[first:first + 2])[0]):
        entry = first + 2 + 12 * index
        if struct.unpack("<H", data[entry:entry + 2])[0] == tag:
            data[entry + 8:entry + 10] = struct.pack("<H", value)
    path.write_bytes(bytes(data))


def test_an_unsigned_thirty_two_bit_tiff_is_its_eight_bit_twin(tmp_path, photo):
    grey = _pixels(_grey(photo)).astype(np.uint64)
    path = tmp_path / "u32.tif"
    _unsigned_32_bit_tiff(path, grey * 16843009)  # 255 -> 2**32 - 1
    assert Image.open(path).tag_v2.get(339) in (1, (1,))
    _assert_same_picture(path, _grey(photo))


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])  # Pillow's own decoder, then libtiff's
@pytest.mark.parametrize("kind", ["uint16", "float32"])
def test_a_min_is_white_high_depth_tiff_is_its_eight_bit_twin(tmp_path, photo, kind, compression):
    """PhotometricInterpretation 0 (X-rays, scanners): 0 is white. Pillow inverts such a TIFF of
    8 bits, not of 16 bits or floats; the twin is the same picture as an 8-bit min-is-white TIFF."""
    grey = _pixels(_grey(photo))
    twin = tmp_path / "twin8.tif"
    Image.fromarray(grey).save(twin, compression=compression)
    _set_short_tiff_tag(twin, 262, 0)
    if kind == "uint16":
        deep = Image.fromarray(grey.astype(np.uint16) * 257)
    else:
        deep = Image.fromarray((grey / np.float32(255)).astype(np.float32), "F")
    path = tmp_path / f"deep-{kind}.tif"
    deep.save(path, compression=compression)
    _set_short_tiff_tag(path, 262, 0)
    assert Image.open(path).tag_v2.get(262) == 0 and Image.open(twin).tag_v2.get(262) == 0
    expected = _pixels(open_image(twin))
    np.testing.assert_array_equal(expected[..., 0], 255 - grey)  # the twin is the negative of the stored grey
    np.testing.assert_array_equal(_pixels(open_image(path)), expected)


@pytest.mark.parametrize("kind", [b"tEXt", b"zTXt", b"iCCP"])
def test_a_png_with_a_text_or_colour_profile_chunk_over_a_megabyte_opens(tmp_path, photo, kind):
    plain = tmp_path / "plain.png"
    photo.save(plain)
    big = os.urandom(1_500_000).hex().encode()[:2_000_000]
    payload = {b"tEXt": b"Comment\0" + big, b"zTXt": b"Comment\0\0" + zlib.compress(big),
               b"iCCP": b"perfil\0\0" + zlib.compress(big)}[kind]
    path = tmp_path / "big-chunk.png"
    path.write_bytes(_with_chunk_before_idat(plain, _chunk(kind, payload)))
    _assert_same_picture(path, photo)


def _deflated(size, step=1 << 24):
    """size zero bytes, zlib-compressed without holding them: a decompression bomb."""
    packer = zlib.compressobj(9)
    packed = [packer.compress(bytes(min(step, size - at))) for at in range(0, size, step)]
    return b"".join(packed) + packer.flush()


_MB = 1_000_000
# Metadata Pillow refused the whole picture for («su cabecera no se puede leer»): a text or colour
# profile unpacking past its 32 MB bound (a bomb), or texts past its 64 MB in all.
_OVERSIZED_METADATA = {
    "zTXt bomb": [_chunk(b"zTXt", b"Comment\0\0" + _deflated(40 * _MB))],
    "iCCP bomb": [_chunk(b"iCCP", b"perfil\0\0" + _deflated(40 * _MB))],
    "iTXt bomb": [_chunk(b"iTXt", b"XML:com.adobe.xmp\0\1\0es\0\0" + _deflated(40 * _MB))],
    "three texts of 30 MB": [_chunk(b"zTXt", b"C%d\0\0" % n + _deflated(30 * _MB)) for n in range(3)],
}


@pytest.mark.parametrize("case", sorted(_OVERSIZED_METADATA))
@pytest.mark.parametrize("where", ["before the pixels", "after the pixels"])
def test_a_png_with_metadata_past_pillows_bounds_is_read_without_it(tmp_path, photo, case, where):
    plain = tmp_path / "plain.png"
    photo.save(plain)
    data = plain.read_bytes()
    metadata = b"".join(_OVERSIZED_METADATA[case])
    at = 8 + 8 + 13 + 4 if where == "before the pixels" else len(data) - 12  # after IHDR or before IEND
    path = tmp_path / "metadata.png"
    path.write_bytes(data[:at] + metadata + data[at:])
    _assert_same_picture(path, photo)


def test_only_the_oversized_chunk_is_left_out_the_orientation_beside_it_still_counts(tmp_path, photo):
    plain = tmp_path / "plain.png"
    photo.transpose(Image.Transpose.ROTATE_90).save(plain)  # stored as a camera held sideways stores it
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    chunks = _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp) + _OVERSIZED_METADATA["zTXt bomb"][0]
    path = tmp_path / "rotated.png"
    path.write_bytes(_with_chunk_before_idat(plain, chunks))
    _assert_same_picture(path, photo)


def test_the_view_without_chunks_reads_as_the_bytes_without_them():
    """Random cuts, random seeks and reads of any size, against the bytes with the cuts removed."""
    import io

    from classifier.images.png import _Without

    rng = np.random.default_rng(7)
    data = rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    for _ in range(200):
        bounds = sorted(rng.choice(5001, size=2 * int(rng.integers(0, 6)), replace=False).tolist())
        hidden = list(zip(bounds[::2], bounds[1::2], strict=True))
        kept = b"".join(data[start:end] for start, end in zip([0, *bounds[1::2]], [*bounds[::2], 5000], strict=True))
        view = _Without(io.BytesIO(data), hidden, len(data))
        assert view.read() == kept and view.tell() == len(kept)
        for _ in range(20):
            at, count = int(rng.integers(0, len(kept) + 10)), int(rng.integers(-1, 300))
            assert view.seek(at) == at
            expected = kept[at:] if count < 0 else kept[at:at + count]
            assert view.read(count) == expected and view.tell() == max(at, min(at + len(expected), len(kept)))
        assert view.seek(-3, os.SEEK_END) == max(0, len(kept) - 3) and view.read() == kept[-3:]


_PEAK_OF_ONE_OPEN = """
import resource, sys
from classifier.images import open_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image = open_image(sys.argv[1])
print(image.size[0], image.size[1], (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def _peak_growth_of_one_open(path):
    """(width, height, growth of the peak in MiB) of open_image on path, in a fresh process."""
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", _PEAK_OF_ONE_OPEN, str(path)], cwd=repo, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return tuple(map(int, done.stdout.split()))


def test_half_a_million_empty_metadata_chunks_cost_neither_memory_nor_pillows_time(tmp_path, photo):
    """Pillow keeps every private chunk: 500 000 empty ones (6 MB) grew the process by 58 MiB
    in 2.3 s, two million by 230 MiB in 9 s. Past 1000, they are left out: 1 MiB, 0.6 s."""
    plain = tmp_path / "plain.png"
    photo.save(plain)
    path = tmp_path / "chunks.png"
    path.write_bytes(_with_chunk_before_idat(plain, _chunk(b"prIV", b"") * 500_000))
    width, height, growth_mib = _peak_growth_of_one_open(path)
    assert (width, height) == photo.size
    assert growth_mib < 16, growth_mib
    _assert_same_picture(path, photo)


class _CpuBoundExceeded(BaseException):
    """BaseException: the opener's own 'except Exception' must not swallow it."""


def test_three_hundred_bombs_cost_one_bound_of_unpacking_not_three_hundred(tmp_path, photo):
    """Each bomb measured up to 32 MB took 34 CPU seconds for 200 of them (a 10 MB file). All
    the bombs together are unpacked only up to 128 MB: 0.6 s. The bound is CPU time (the
    profiling timer), which other processes on the machine do not lengthen."""
    import signal

    plain = tmp_path / "plain.png"
    photo.save(plain)
    path = tmp_path / "bombs.png"
    path.write_bytes(_with_chunk_before_idat(plain, _OVERSIZED_METADATA["zTXt bomb"][0] * 300))

    def stop(signum, frame):
        raise _CpuBoundExceeded()

    previous = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, 10)
    try:
        image = open_image(path)
    except _CpuBoundExceeded:
        pytest.fail("300 bombs took more than 10 CPU seconds")
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    np.testing.assert_array_equal(_pixels(image), _pixels(photo))


def test_a_transparent_colour_after_metadata_past_the_bounds_still_counts(tmp_path):
    plain = tmp_path / "plain.png"
    expected = _palette_with_transparent_index(plain)
    path = tmp_path / "metadata-then-trns.png"
    metadata = b"".join(_OVERSIZED_METADATA["three texts of 30 MB"]) + _chunk(b"prIV", b"") * 2000
    path.write_bytes(_with_chunk_before_idat(plain, metadata))
    data = path.read_bytes()
    assert data.index(b"tRNS") > data.rindex(b"prIV")  # past both bounds, as written
    np.testing.assert_array_equal(_pixels(open_image(path)), expected)


def test_oversized_metadata_costs_neither_its_size_nor_its_unpacked_size_in_memory(tmp_path, photo):
    """A 300 MB text bomb and a 70 MB plain text, in one PNG of 70 MB.

    Before, Pillow unpacked 32 MB of the bomb and refused the file as damaged (95 MiB at the peak);
    a 200 MB plain text alone, which it reads whole, took the peak to 601 MiB. Left out, neither
    is read: the process grew by 3 MiB (peak 32 MiB). The bound leaves room for Pillow's buffers.
    """
    plain = tmp_path / "plain.png"
    photo.save(plain)
    chunks = _chunk(b"zTXt", b"Comment\0\0" + _deflated(300 * _MB)) + _chunk(b"tEXt", b"Comment\0" + bytes(70 * _MB))
    path = tmp_path / "heavy.png"
    path.write_bytes(_with_chunk_before_idat(plain, chunks))
    width, height, growth_mib = _peak_growth_of_one_open(path)
    assert (width, height) == photo.size
    assert growth_mib < 32, growth_mib


def _half_float_tiff(path, width=8, height=4):
    """A grey TIFF of 16-bit floats (SampleFormat 3), a variant Pillow cannot decode."""
    entries = [(256, 3, 1, width), (257, 3, 1, height), (258, 3, 1, 16), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 10 + 4), (277, 3, 1, 1), (278, 3, 1, height),
               (279, 4, 1, width * height * 2), (339, 3, 1, 3)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *entry) for entry in entries)
    path.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + bytes(width * height * 2))


def test_a_tiff_of_a_variant_pillow_cannot_read_is_called_a_tiff(tmp_path):
    path = tmp_path / "medio.tif"
    _half_float_tiff(path)
    with pytest.raises(ImageError) as caught:
        open_image(path)
    assert "es un TIFF de una variante que no se puede leer" in str(caught.value)


@pytest.mark.parametrize("kept", range(8, 80, 4))
def test_a_png_cut_in_its_first_chunks_is_damaged_not_of_an_unknown_format(tmp_path, photo, kept):
    # Cut inside its header or a text chunk, Pillow cannot identify it; it starts as a PNG all the same.
    whole = tmp_path / "foto.png"
    photo.save(whole)
    cut = tmp_path / "cortada.png"
    cut.write_bytes(whole.read_bytes()[:kept])
    with pytest.raises(ImageError) as caught:
        open_image(cut)
    assert str(caught.value).endswith(": el archivo está dañado: su cabecera no se puede leer."), caught.value


@pytest.mark.parametrize("kept", [0.05, 0.5, 0.97])
def test_a_tiff_cut_short_is_called_incomplete_not_a_variant(tmp_path, photo, kept):
    # An interrupted download: the directory, which writers often put last, is gone. «Variante que no se
    # puede leer… guárdelo como PNG» sent the user to convert a file that no program can open.
    whole = tmp_path / "foto.tif"
    photo.save(whole, compression="tiff_lzw")
    data = whole.read_bytes()
    assert int.from_bytes(data[4:8], "little") > len(data) // 2  # Pillow writes the directory last
    cut = tmp_path / "cortada.tif"
    cut.write_bytes(data[:int(len(data) * kept)])
    with pytest.raises(ImageError) as caught:
        open_image(cut)
    assert str(caught.value).endswith(": el archivo está dañado o incompleto y no se puede decodificar."), caught.value


@pytest.mark.parametrize("in_thread", [False, True])  # the desktop decodes in a background thread
def test_a_damaged_lzw_tiff_gets_its_sentence_and_no_libtiff_line(tmp_path, photo, capfd, in_thread):
    """Pillow decodes an LZW TIFF with libtiff, whose errors went to stderr from C, in English:
    «tempfile.tif: Using code not yet in table.» before the Spanish sentence."""
    import threading

    whole = tmp_path / "foto.tif"
    photo.save(whole, compression="tiff_lzw")
    assert Image.open(whole).tag_v2.get(259) == 5  # LZW: libtiff's to decode
    _assert_same_picture(whole, photo)
    data = bytearray(whole.read_bytes())
    strip = Image.open(whole).tag_v2.get(273)[0]
    for at in range(strip + 20, strip + 60):
        data[at] ^= 0x55
    damaged = tmp_path / "rota.tif"
    damaged.write_bytes(bytes(data))
    capfd.readouterr()
    caught = []

    def attempt():
        try:
            open_image(damaged)
        except ImageError as exc:
            caught.append(str(exc))

    if in_thread:
        worker = threading.Thread(target=attempt)
        worker.start()
        worker.join()
    else:
        attempt()
    out, err = capfd.readouterr()
    assert len(caught) == 1 and "dañado o incompleto" in caught[0], caught
    assert (out, err) == ("", "")


def _iso_media(major, *compatible):
    brands = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(brands)) + b"ftyp" + brands + b"\0\0\0\x08free" + os.urandom(200)


@pytest.mark.parametrize("head", [_iso_media(b"heic", b"mif1", b"heic"), _iso_media(b"mif1", b"mif1", b"heic")])
def test_an_iphone_heic_photo_is_named_with_how_to_convert_it(tmp_path, head):
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(head)
    with pytest.raises(ImageError) as caught:
        open_image(path)
    assert "HEIC" in str(caught.value) and "JPEG" in str(caught.value)


def test_an_unreadable_avif_is_not_called_heic(tmp_path):
    path = tmp_path / "roto.avif"
    path.write_bytes(_iso_media(b"mif1", b"mif1", b"avif", b"heic"))
    with pytest.raises(ImageError) as caught:
        open_image(path)
    assert "HEIC" not in str(caught.value)


ILLUSTRATOR = (b'<?xml version="1.0"?>\n<!-- Generator: ' + b"x" * 400 + b' -->\n<!DOCTYPE svg PUBLIC '
               b'"-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n')


@pytest.mark.parametrize("head", [b"", b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- dibujo -->\n', ILLUSTRATOR])
def test_an_svg_is_called_a_vector_drawing_with_how_to_convert_it(tmp_path, head):
    path = tmp_path / "logo.svg.png"
    path.write_bytes(head + b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>\n')
    with pytest.raises(ImageError) as caught:
        open_image(path)
    message = str(caught.value)
    assert "dibujo vectorial (SVG)" in message and "PNG" in message and "texto" not in message
