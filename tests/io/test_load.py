"""lookalike.io.load_image: sources, modes, alpha, palettes, orientation, draft, limits and bad input."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from lookalike.color import rgb2gray
from lookalike.errors import ImageReadError, ParameterError
from lookalike.io import DEFAULT_MAX_PIXELS, load_image, open_image
from tests.io.bad_files import BAD_FILES, bomb_png, encode, png_chunk, sample_rgb


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return sample_rgb()


@pytest.fixture
def png_file(tmp_path: Path, rgb: np.ndarray) -> Path:
    path = tmp_path / "astronaut.png"
    path.write_bytes(encode(rgb, "PNG"))
    return path


# --- sources ---------------------------------------------------------------------------------


class _Unseekable(io.RawIOBase):
    """A binary stream that cannot seek, like a pipe or a socket."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_every_kind_of_source_gives_the_same_pixels(png_file: Path, rgb: np.ndarray) -> None:
    data = png_file.read_bytes()
    with open(png_file, "rb") as handle:
        from_handle = load_image(handle)
        assert not handle.closed  # the caller's file stays the caller's
    with Image.open(png_file) as pil:
        from_pil = load_image(pil)
    sources = [png_file, str(png_file), data, bytearray(data), memoryview(data), io.BytesIO(data)]
    for source in sources:
        np.testing.assert_array_equal(load_image(source), rgb)
    np.testing.assert_array_equal(from_handle, rgb)
    np.testing.assert_array_equal(from_pil, rgb)
    np.testing.assert_array_equal(load_image(io.BufferedReader(_Unseekable(data))), rgb)


def test_array_source_is_returned_without_a_copy(rgb: np.ndarray) -> None:
    assert load_image(rgb) is rgb or np.shares_memory(load_image(rgb), rgb)


def test_path_is_closed_after_loading(png_file: Path) -> None:
    load_image(png_file)
    os.replace(png_file, png_file.with_suffix(".moved"))  # would fail on Windows with an open handle
    assert not png_file.exists()


def test_open_image_reads_the_header_only(png_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object) -> None:
        raise AssertionError("open_image must not decode pixels")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    with open_image(png_file) as image:
        assert (image.size, image.format) == ((128, 128), "PNG")


# --- modes and bit depths --------------------------------------------------------------------


def test_grey_stays_two_dimensional_in_auto_mode(tmp_path: Path, rgb: np.ndarray) -> None:
    grey = rgb[..., 1].copy()
    path = tmp_path / "grey.png"
    path.write_bytes(encode(grey, "PNG"))
    out = load_image(path)
    assert out.shape == (128, 128) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, grey)


def test_mode_rgb_repeats_grey(tmp_path: Path, rgb: np.ndarray) -> None:
    grey = rgb[..., 0].copy()
    out = load_image(encode(grey, "PNG"), mode="rgb")
    assert out.shape == (128, 128, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], grey)


def test_mode_gray_uses_matlab_rgb2gray(rgb: np.ndarray) -> None:
    out = load_image(encode(rgb, "PNG"), mode="gray")
    assert out.shape == (128, 128) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb2gray(rgb))
    # MATLAB: rgb2gray(uint8([255 0 0])) = 76, rgb2gray(uint8([0 255 0])) = 150, blue = 29.
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    assert load_image(encode(primaries, "PNG"), mode="gray").tolist() == [[76, 150, 29]]


def test_one_bit_image_becomes_uint8_0_255() -> None:
    bits = (np.indices((16, 24)).sum(axis=0) % 2).astype(bool)
    buffer = io.BytesIO()
    Image.fromarray(bits).save(buffer, "PNG")
    out = load_image(buffer.getvalue())
    assert out.dtype == np.uint8 and out.shape == (16, 24)
    np.testing.assert_array_equal(out, bits.astype(np.uint8) * 255)


def _png16(samples: np.ndarray, colour_type: int) -> bytes:
    """A 16-bit PNG written by hand (filter 0 on every row), independent of Pillow and OpenCV."""
    height, width = samples.shape[:2]
    big_endian = samples.astype(">u2").reshape(height, -1)
    raw = b"".join(b"\x00" + big_endian[row].tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def _random16(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(16).integers(0, 65536, shape, dtype=np.uint16)


@pytest.mark.parametrize(
    ("shape", "colour_type"),
    [((20, 30), 0), ((20, 30, 3), 2), ((20, 30, 4), 6), ((20, 30, 2), 4)],
    ids=["grey", "rgb", "rgba", "grey+alpha"],
)
def test_16bit_png_keeps_uint16(shape: tuple[int, ...], colour_type: int) -> None:
    samples = _random16(shape)
    out = load_image(_png16(samples, colour_type), alpha="keep")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, samples)


def test_16bit_colour_png_follows_the_alpha_and_mode_rules() -> None:
    samples = _random16((8, 9, 4))
    data = _png16(samples, 6)
    np.testing.assert_array_equal(load_image(data), samples[..., :3])
    np.testing.assert_array_equal(load_image(data, mode="gray"), rgb2gray(samples[..., :3]))


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3)], ids=["grey", "rgb"])
def test_16bit_tiff_keeps_uint16(tmp_path: Path, shape: tuple[int, ...]) -> None:
    tifffile = pytest.importorskip("tifffile")
    samples = _random16(shape)
    path = tmp_path / "deep.tif"
    tifffile.imwrite(path, samples, photometric="rgb" if len(shape) == 3 else "minisblack")
    out = load_image(path)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, samples)


def test_float_tiff_gives_float32(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    samples = np.random.default_rng(3).random((12, 10), dtype=np.float32)
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, samples)
    out = load_image(path)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, samples)


def test_truncated_16bit_colour_png_is_refused() -> None:
    data = _png16(_random16((40, 50, 3)), 2)
    with pytest.raises(ImageReadError, match=r"truncated|corrupt"):
        load_image(data[: len(data) // 2])


# --- alpha -----------------------------------------------------------------------------------


@pytest.fixture
def rgba() -> np.ndarray:
    pixels = np.zeros((2, 3, 4), np.uint8)
    pixels[..., :3] = [200, 100, 0]
    pixels[..., 3] = [[255, 128, 0], [64, 255, 1]]
    return pixels


def test_alpha_drop_keeps_stored_colour(rgba: np.ndarray) -> None:
    out = load_image(encode(rgba, "PNG"))
    np.testing.assert_array_equal(out, rgba[..., :3])


@pytest.mark.parametrize("background", ["white", "black"])
def test_alpha_white_and_black_composite(rgba: np.ndarray, background: str) -> None:
    out = load_image(encode(rgba, "PNG"), alpha=background)
    fill = 255.0 if background == "white" else 0.0
    w = rgba[..., 3:].astype(float) / 255
    expected = np.floor(rgba[..., :3] * w + fill * (1 - w) + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    # hand-checked pixel: colour 200 at alpha 128 over white = 200*128/255 + 255*127/255 = 227.39
    assert out[0, 1, 0] == (227 if background == "white" else 100)
    assert out[0, 2].tolist() == ([255] * 3 if background == "white" else [0] * 3)  # fully transparent


def test_alpha_keep_returns_rgba_and_obeys_mode(rgba: np.ndarray) -> None:
    data = encode(rgba, "PNG")
    np.testing.assert_array_equal(load_image(data, alpha="keep"), rgba)
    grey = load_image(data, alpha="keep", mode="gray")
    assert grey.shape == (2, 3, 2)
    np.testing.assert_array_equal(grey[..., 0], rgb2gray(rgba[..., :3]))
    np.testing.assert_array_equal(grey[..., 1], rgba[..., 3])


def test_grey_alpha(rgba: np.ndarray) -> None:
    la = np.dstack([rgba[..., 0], rgba[..., 3]])
    data = encode(la, "PNG")
    np.testing.assert_array_equal(load_image(data), la[..., 0])
    np.testing.assert_array_equal(load_image(data, alpha="keep"), la)
    rgb_keep = load_image(data, alpha="keep", mode="rgb")
    assert rgb_keep.shape == (2, 3, 4)
    np.testing.assert_array_equal(rgb_keep[..., 3], la[..., 1])


def test_alpha_rule_applies_to_arrays_too(rgba: np.ndarray) -> None:
    np.testing.assert_array_equal(load_image(rgba), rgba[..., :3])
    assert load_image(rgba, alpha="white")[0, 2].tolist() == [255, 255, 255]
    floats = rgba.astype(np.float32) / 255
    assert load_image(floats, alpha="black")[0, 2].tolist() == [0.0, 0.0, 0.0]


# --- palettes and GIF ------------------------------------------------------------------------


def test_palette_image_becomes_rgb(rgb: np.ndarray) -> None:
    paletted = Image.fromarray(rgb).quantize(64)
    buffer = io.BytesIO()
    paletted.save(buffer, "PNG")
    out = load_image(buffer.getvalue())
    assert out.shape == (128, 128, 3)
    np.testing.assert_array_equal(out, np.asarray(paletted.convert("RGB")))


def test_grey_palette_stays_grey(rgb: np.ndarray) -> None:
    grey = Image.fromarray(rgb[..., 1].copy()).convert("P")  # a palette of 256 greys
    buffer = io.BytesIO()
    grey.save(buffer, "PNG")
    out = load_image(buffer.getvalue())
    assert out.ndim == 2
    np.testing.assert_array_equal(out, rgb[..., 1])


def test_palette_with_transparency_uses_the_alpha_rule() -> None:
    image = Image.new("P", (4, 2))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0, 0, 0] * 254)
    image.putpixel((0, 0), 1)
    image.info["transparency"] = 0  # entry 0 is transparent
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    data = buffer.getvalue()
    dropped = load_image(data)
    assert dropped.shape == (2, 4, 3)
    assert dropped[0, 0].tolist() == [200, 100, 50] and dropped[1, 1].tolist() == [10, 20, 30]
    white = load_image(data, alpha="white")
    assert white[0, 0].tolist() == [200, 100, 50] and white[1, 1].tolist() == [255, 255, 255]
    assert load_image(data, alpha="keep")[1, 1].tolist() == [10, 20, 30, 0]


def test_gif_gives_the_first_frame() -> None:
    frames = [Image.new("RGB", (8, 6), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = load_image(buffer.getvalue())
    assert out.shape == (6, 8, 3)
    assert np.all(out == [255, 0, 0])


# --- EXIF orientation ------------------------------------------------------------------------

# EXIF 2.3, tag 0x0112: where the stored image's 0th row and 0th column lie in the picture shown.
_ROW0_COL0 = {
    1: ("top", "left"), 2: ("top", "right"), 3: ("bottom", "right"), 4: ("bottom", "left"),
    5: ("left", "top"), 6: ("right", "top"), 7: ("right", "bottom"), 8: ("left", "bottom"),
}


def displayed(stored: np.ndarray, orientation: int) -> np.ndarray:
    """The picture a viewer shows for ``stored`` with this orientation tag, from the EXIF table."""
    row0, col0 = _ROW0_COL0[orientation]
    h, w = stored.shape[:2]
    r, c = np.indices((h, w))
    if row0 in ("top", "bottom"):
        y = r if row0 == "top" else h - 1 - r
        x = c if col0 == "left" else w - 1 - c
        out = np.empty_like(stored)
    else:  # stored rows are shown as columns
        x = r if row0 == "left" else h - 1 - r
        y = c if col0 == "top" else w - 1 - c
        out = np.empty((w, h, *stored.shape[2:]), stored.dtype)
    out[y, x] = stored[r, c]
    return out


def _with_orientation(array: np.ndarray, fmt: str, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation_is_applied(orientation: int, rgb: np.ndarray) -> None:
    stored = np.ascontiguousarray(rgb[:96])  # not square, so a missing rotation changes the shape
    data = _with_orientation(stored, "JPEG", orientation)
    with Image.open(io.BytesIO(data)) as image:
        assert image.getexif()[0x0112] == orientation
        decoded_as_stored = np.asarray(image.convert("RGB"))  # Pillow itself does not rotate
    np.testing.assert_array_equal(load_image(data), displayed(decoded_as_stored, orientation))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_png_exif_orientation_gives_back_the_picture(orientation: int, rgb: np.ndarray) -> None:
    picture = np.ascontiguousarray(rgb[:96])
    # find the stored array that displays as ``picture`` (lossless PNG: exact)
    stored = next(
        candidate
        for candidate in (picture, np.rot90(picture, 2), np.rot90(picture, 1), np.rot90(picture, -1))
        if displayed(candidate, orientation).shape == picture.shape
        and np.array_equal(displayed(candidate, orientation), picture)
    )
    np.testing.assert_array_equal(load_image(_with_orientation(np.ascontiguousarray(stored), "PNG", orientation)),
                                  picture)


# --- draft decoding --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    from skimage import data

    picture = Image.fromarray(data.astronaut()).resize((800, 600), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize(("asked", "expected"), [((200, 150), (150, 200)), ((300, 100), (300, 400)),
                                                 ((800, 600), (600, 800)), ((799, 1), (600, 800))])
def test_draft_decodes_jpeg_smaller_but_not_below_the_asked_size(
    big_jpeg: bytes, asked: tuple[int, int], expected: tuple[int, int]
) -> None:
    out = load_image(big_jpeg, draft=asked)
    assert out.shape[:2] == expected  # (height, width)
    assert out.shape[1] >= asked[0] and out.shape[0] >= asked[1]


def test_draft_counts_the_size_after_orientation(rgb: np.ndarray) -> None:
    from skimage import data

    stored = np.asarray(Image.fromarray(data.astronaut()).resize((800, 600)))  # shown as 600 wide, 800 high
    data_ = _with_orientation(stored, "JPEG", 6)
    out = load_image(data_, draft=(390, 100))
    assert out.shape[1] >= 390 and out.shape[0] >= 100
    assert out.shape[:2] == (800, 600)  # a 1/2 draft would show 300 wide: too narrow
    assert load_image(data_, draft=(100, 390)).shape[:2] == (400, 300)


def test_draft_leaves_a_callers_pil_image_alone(big_jpeg: bytes) -> None:
    with Image.open(io.BytesIO(big_jpeg)) as image:
        assert load_image(image, draft=(100, 75)).shape == (600, 800, 3)
        assert image.size == (800, 600)


def test_32bit_tiff_beyond_16_bits_is_unsupported(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "wide.tif"
    tifffile.imwrite(path, np.full((4, 4), 70000, np.int32))
    with pytest.raises(ImageReadError, match="unsupported TIFF file: 32-bit integer samples"):
        load_image(path)
    small = tmp_path / "fits.tif"
    tifffile.imwrite(small, np.full((4, 4), 60000, np.int32))
    out = load_image(small)
    assert out.dtype == np.uint16 and out.max() == 60000


def test_draft_is_ignored_for_png(png_file: Path) -> None:
    assert load_image(png_file, draft=(8, 8)).shape == (128, 128, 3)


# --- decompression bombs and limits ----------------------------------------------------------


def test_bomb_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png())
    assert path.stat().st_size < 100_000  # 400 million pixels in under 100 KB

    def refuse(self: object) -> None:
        raise AssertionError("a bomb must be refused before any pixel is decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    message = str(info.value)
    assert "20000x20000" in message and f"the limit of {DEFAULT_MAX_PIXELS:,} pixels" in message
    assert "max_pixels=None" in message
    assert str(path) in message


def test_max_pixels_is_the_only_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None and 20000 * 20000 > 2 * limit  # Pillow alone would refuse this header
    with open_image(bomb_png(), max_pixels=None) as image:
        assert image.size == (20000, 20000)
    with open_image(bomb_png(), max_pixels=20000 * 20000) as image:
        assert image.size == (20000, 20000)
    assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's setting is restored


def test_small_max_pixels_refuses_an_ordinary_image(png_file: Path) -> None:
    with pytest.raises(ImageReadError, match=r"128x128 = 16,384 pixels exceeds the limit of 16,383 pixels"):
        load_image(png_file, max_pixels=128 * 128 - 1)
    assert load_image(png_file, max_pixels=128 * 128).shape == (128, 128, 3)


def test_max_pixels_applies_to_pil_images(rgb: np.ndarray) -> None:
    with pytest.raises(ImageReadError, match="the limit of 100 pixels"):
        load_image(Image.fromarray(rgb), max_pixels=100)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_one_image_read_error(tmp_path: Path, case: str) -> None:
    build, words = BAD_FILES[case]
    path = build(tmp_path)
    before = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    with pytest.raises(ImageReadError) as info:
        load_image(path)
    error = info.value
    assert isinstance(error, OSError)
    assert error.__cause__ is None  # one error, not a chain of them
    assert error.__context__ is None or error.__suppress_context__
    message = str(error)
    assert "\n" not in message
    assert repr(str(path)) in message  # names the file
    for word in words:
        assert word in message
    assert error.reason in message
    after = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    assert after == before  # nothing on disk changed


@pytest.mark.parametrize("case", sorted(set(BAD_FILES) - {"missing", "folder", "empty"}))
def test_bad_bytes_and_streams_raise_the_same_cause(tmp_path: Path, case: str) -> None:
    build, words = BAD_FILES[case]
    data = build(tmp_path).read_bytes()
    for source in (data, io.BytesIO(data)):
        with pytest.raises(ImageReadError) as info:
            load_image(source)
        for word in words:
            assert word in str(info.value)
    with pytest.raises(ImageReadError, match=f"<{len(data)} bytes>"):
        load_image(data)


def test_empty_bytes_and_stream() -> None:
    with pytest.raises(ImageReadError, match="0 bytes"):
        load_image(b"")
    with pytest.raises(ImageReadError, match="0 bytes"):
        load_image(io.BufferedReader(_Unseekable(b"")))


def test_text_mode_file_object(png_file: Path) -> None:
    with open(png_file, encoding="latin-1") as handle, pytest.raises(ImageReadError):
        load_image(handle)  # type: ignore[arg-type]


def test_not_a_regular_file() -> None:
    if not os.path.exists(os.devnull):
        pytest.skip(f"{os.devnull} does not exist here")
    with pytest.raises(ImageReadError, match="not a regular file"):
        load_image(os.devnull)


def test_unsupported_source_type() -> None:
    with pytest.raises(ImageReadError, match=r"expected a path, bytes.*got int"):
        load_image(42)  # type: ignore[arg-type]


def test_eps_never_reaches_ghostscript(tmp_path: Path) -> None:
    path = tmp_path / "figure.eps"
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(ImageReadError, match="PostScript"):
        load_image(path)


def test_permission_denied(tmp_path: Path, png_file: Path) -> None:
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading (see the simulated test)")
    png_file.chmod(0)
    try:
        with pytest.raises(ImageReadError, match="permission denied"):
            load_image(png_file)
    finally:
        png_file.chmod(0o644)


def test_permission_denied_simulated(png_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(png_file))

    monkeypatch.setattr("lookalike.io._load.open", denied, raising=False)
    with pytest.raises(ImageReadError) as info:
        load_image(png_file)
    assert str(info.value) == f"cannot read image {str(png_file)!r}: permission denied"


@pytest.mark.parametrize(
    "array",
    [np.zeros(10, np.uint8), np.zeros((4, 4, 5), np.uint8), np.zeros((2, 4, 4, 3), np.uint8),
     np.zeros((0, 4), np.uint8), np.zeros((4, 4), complex), np.zeros((4, 4), object)],
    ids=["1-d", "5-channels", "4-d", "empty", "complex", "object"],
)
def test_array_of_wrong_shape_or_type(array: np.ndarray) -> None:
    with pytest.raises(ImageReadError) as info:
        load_image(array)
    assert "<ndarray>" in str(info.value)
    assert str(array.shape) in str(info.value) or str(array.dtype) in str(info.value)


@pytest.mark.parametrize(
    "options",
    [{"mode": "bgr"}, {"alpha": "ignore"}, {"max_pixels": 0}, {"max_pixels": True}, {"max_pixels": 1.5},
     {"draft": (0, 10)}, {"draft": (10,)}, {"draft": "big"}],
)
def test_invalid_options_are_parameter_errors(png_file: Path, options: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        load_image(png_file, **options)  # type: ignore[arg-type]


def test_a_path_with_a_nul_character_is_an_image_read_error(png_file: Path, tmp_path: Path) -> None:
    """The operating system refuses such a name with a bare ValueError ("embedded null byte")."""
    from lookalike.pipelines import compare, match

    bad = str(tmp_path / "x\0.png")
    for call in (lambda: load_image(bad), lambda: open_image(bad).__enter__(), lambda: compare(png_file, bad),
                 lambda: match(png_file, bad)):
        with pytest.raises(ImageReadError) as info:
            call()
        assert info.value.source == repr(bad) and "NUL character" in info.value.reason
        assert str(info.value).startswith(f"cannot read image {bad!r}: ")
