"""Every supported format decodes to the pixels that were encoded (exactly where the format is lossless).

Test files are written on the fly in tmp_path from a real image (scikit-image's
astronaut, public domain); lossy formats are checked against the original with a
PSNR floor and against an independent decoder where one exists.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from lookalike.io import load_image
from lookalike.metrics import psnr
from tests.io.bad_files import encode, sample_rgb


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return sample_rgb()


def _save(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("fmt", "suffix", "options"),
    [("PNG", ".png", {}), ("BMP", ".bmp", {}), ("TIFF", ".tif", {}), ("TIFF", ".tiff", {"compression": "tiff_lzw"}),
     ("WEBP", ".webp", {"lossless": True}), ("PPM", ".ppm", {})],
    ids=["png", "bmp", "tiff", "tiff-lzw", "webp-lossless", "ppm"],
)
def test_lossless_colour_formats_are_exact(
    tmp_path: Path, rgb: np.ndarray, fmt: str, suffix: str, options: dict[str, object]
) -> None:
    path = _save(tmp_path, encode(rgb, fmt, **options), "image" + suffix)
    out = load_image(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", ".png"), ("BMP", ".bmp"), ("TIFF", ".tif"), ("PPM", ".pgm")])
def test_lossless_grey_formats_are_exact_and_2d(tmp_path: Path, rgb: np.ndarray, fmt: str, suffix: str) -> None:
    grey = np.ascontiguousarray(rgb[..., 0])
    out = load_image(_save(tmp_path, encode(grey, fmt), "grey" + suffix))
    assert out.shape == grey.shape
    np.testing.assert_array_equal(out, grey)


def test_jpeg_matches_opencv_decoder_and_original(tmp_path: Path, rgb: np.ndarray) -> None:
    import cv2

    path = _save(tmp_path, encode(rgb, "JPEG", quality=92), "photo.jpg")
    out = load_image(path)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert psnr(out, rgb) > 30
    # libjpeg-turbo in Pillow and in OpenCV: the same integer IDCT, so at most 1 level apart
    reference = cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.abs(out.astype(int) - reference).max() <= 1


def test_grey_jpeg_stays_2d(tmp_path: Path, rgb: np.ndarray) -> None:
    out = load_image(_save(tmp_path, encode(np.ascontiguousarray(rgb[..., 1]), "JPEG", quality=90), "g.jpg"))
    assert out.ndim == 2


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path, rgb: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buffer, "JPEG", quality=95)
    out = load_image(buffer.getvalue())
    assert out.shape == rgb.shape and psnr(out, rgb) > 25


def test_lossy_webp(tmp_path: Path, rgb: np.ndarray) -> None:
    out = load_image(_save(tmp_path, encode(rgb, "WEBP", quality=90), "image.webp"))
    assert out.shape == rgb.shape and psnr(out, rgb) > 30


def test_webp_with_alpha(tmp_path: Path, rgb: np.ndarray) -> None:
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0
    out = load_image(encode(rgba, "WEBP", lossless=True, exact=True), alpha="keep")
    np.testing.assert_array_equal(out, rgba)


def test_gif_palette(tmp_path: Path, rgb: np.ndarray) -> None:
    path = _save(tmp_path, encode(rgb, "GIF"), "image.gif")
    out = load_image(path)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert psnr(out, rgb) > 25  # 256-colour quantisation
    with Image.open(path) as image:
        np.testing.assert_array_equal(out, np.asarray(image.convert("RGB")))


def test_avif(tmp_path: Path, rgb: np.ndarray) -> None:
    if not features.check("avif"):
        pytest.skip("this Pillow was built without libavif, so AVIF cannot be written or read here")
    try:
        data = encode(rgb, "AVIF", quality=90)
    except (OSError, KeyError, ValueError) as exc:
        pytest.skip(f"libavif in this Pillow has no AV1 encoder: {exc}")
    out = load_image(_save(tmp_path, data, "image.avif"))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert psnr(out, rgb) > 30


def test_heic(tmp_path: Path, rgb: np.ndarray) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    if "x265" not in str(pillow_heif.libheif_info().get("encoders", {})):
        pytest.skip("pillow-heif here has no HEVC (x265) encoder, so no HEIC file can be made for the test")
    heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=rgb.tobytes())
    path = tmp_path / "image.heic"
    heif.save(path, quality=90)
    assert path.read_bytes()[4:12] == b"ftypheic"
    out = load_image(path)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert psnr(out, rgb) > 30


def test_multipage_tiff_gives_the_first_page(tmp_path: Path, rgb: np.ndarray) -> None:
    pages = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    np.testing.assert_array_equal(load_image(buffer.getvalue()), rgb)


def test_file_extension_does_not_matter(tmp_path: Path, rgb: np.ndarray) -> None:
    path = _save(tmp_path, encode(rgb, "PNG"), "really-a-png.jpg")
    np.testing.assert_array_equal(load_image(path), rgb)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "AVIF", "HEIF"])
def test_exif_orientation_in_every_format_that_carries_it(fmt: str) -> None:
    # orientation 6: the stored picture is shown turned 90 degrees clockwise
    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow was built without libavif")
    if fmt == "HEIF":
        pillow_heif = pytest.importorskip("pillow_heif")
        pillow_heif.register_heif_opener()
    stored = np.full((40, 80, 3), 40, np.uint8)
    stored[:10, :10] = 255  # a bright block in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    lossy = {"quality": 95} if fmt in ("AVIF", "HEIF") else {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(stored).save(buffer, fmt, exif=exif.tobytes(), **lossy)
    out = load_image(buffer.getvalue())
    assert out.shape == (80, 40, 3)
    bright = np.argwhere(out.mean(axis=2) > 128)
    assert bright.min(axis=0).tolist() == [0, 30] and bright.max(axis=0).tolist() == [9, 39]  # now top-right
