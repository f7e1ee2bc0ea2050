"""Decode any supported image source into a numpy array, or fail with one clear error."""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path
from typing import IO, Literal, TypeAlias, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lookalike.color import rgb2gray
from lookalike.errors import ImageReadError, ParameterError

ImageSource: TypeAlias = Union[str, os.PathLike[str], bytes, bytearray, IO[bytes], Image.Image, np.ndarray]
Mode: TypeAlias = Literal["auto", "rgb", "gray"]
Alpha: TypeAlias = Literal["drop", "white", "black", "keep"]

#: Largest image (in pixels) decoded by default: 16384 x 16384. Pass ``max_pixels`` to change it.
DEFAULT_MAX_PIXELS = 16384 * 16384

_MODES = ("auto", "rgb", "gray")
_ALPHAS = ("drop", "white", "black", "keep")
_plugins_registered = False


def _register_plugins() -> None:
    """Register the HEIC/HEIF decoder on first use (not at import time)."""
    global _plugins_registered
    if _plugins_registered:
        return
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # pragma: no cover - pillow-heif is a dependency
        pass
    _plugins_registered = True


def load_image(
    source: ImageSource,
    *,
    mode: Mode = "auto",
    alpha: Alpha = "drop",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    draft: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode an image into an array with channels last.

    Parameters
    ----------
    source : str, path-like, bytes, binary file object, PIL.Image.Image or ndarray
        What to decode. Supported formats: PNG, JPEG, BMP, TIFF (8 and 16 bit),
        WebP, GIF (first frame), AVIF and HEIC/HEIF. An ndarray is validated and
        returned as it is (converted only if ``mode`` asks for it).
    mode : {"auto", "rgb", "gray"}, keyword-only
        ``"auto"`` keeps grey images 2-D (H, W) and colour images (H, W, 3);
        ``"rgb"`` always returns (H, W, 3); ``"gray"`` always returns (H, W),
        using MATLAB's ``rgb2gray`` weights (0.2989, 0.5870, 0.1140), rounded.
    alpha : {"drop", "white", "black", "keep"}, keyword-only
        The rule for transparency (RGBA, LA, palette with transparency):
        ``"drop"`` (default) discards the alpha channel and keeps the stored
        colour of every pixel, as MATLAB's ``imread`` and OpenCV's ``imread`` do;
        ``"white"`` / ``"black"`` composite the image over that background, which
        is what a viewer shows; ``"keep"`` returns 4 (or 2) channels.
    max_pixels : int or None, keyword-only
        Refuse images with more pixels than this (a decompression-bomb guard),
        before decoding them. ``None`` disables the check.
    draft : (width, height), optional, keyword-only
        Allow a JPEG to be decoded at a reduced scale (1/2, 1/4 or 1/8) as long as
        the result stays at least this size. Much faster when a small image is
        all that is needed (hashes, thumbnails). Ignored for other formats.

    Returns
    -------
    ndarray
        ``uint8`` for 8-bit images, ``uint16`` for 16-bit ones, ``float32`` for
        floating-point TIFFs. EXIF orientation is applied.

    Raises
    ------
    ImageReadError
        The source is missing, empty, truncated, corrupt, too large, or not an
        image. The message names the file and the cause.

    Examples
    --------
    >>> import numpy as np
    >>> load_image(np.zeros((4, 5, 3), np.uint8), mode="gray").shape
    (4, 5)
    """
    if mode not in _MODES:
        raise ParameterError(f"mode must be one of {_MODES}, got {mode!r}")
    if alpha not in _ALPHAS:
        raise ParameterError(f"alpha must be one of {_ALPHAS}, got {alpha!r}")
    if isinstance(source, np.ndarray):
        return _from_array(source, mode=mode)
    if isinstance(source, Image.Image):
        return _from_pil(source, source, mode=mode, alpha=alpha, max_pixels=max_pixels)
    with open_image(source, max_pixels=max_pixels) as image:
        if draft is not None and image.format == "JPEG":
            image.draft(image.mode, draft)
        return _from_pil(image, source, mode=mode, alpha=alpha, max_pixels=max_pixels)


class open_image:  # noqa: N801 - used like the function ``open``
    """Open an image lazily (header only) as a context manager; errors as :class:`ImageReadError`.

    The PIL image it yields has not been decoded yet, so its ``size`` and
    ``format`` are cheap to read.
    """

    def __init__(self, source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS):
        self.source = source
        self.max_pixels = max_pixels
        self._image: Image.Image | None = None
        self._file: IO[bytes] | None = None

    def __enter__(self) -> Image.Image:
        _register_plugins()
        source = self.source
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            try:
                size = path.stat().st_size
                if path.is_dir():
                    raise ImageReadError(source, "it is a folder, not a file")
                if size == 0:
                    raise ImageReadError(source, "the file is empty (0 bytes)")
                self._file = open(path, "rb")  # noqa: SIM115 - closed in __exit__
            except FileNotFoundError:
                raise ImageReadError(source, "no such file") from None
            except PermissionError:
                raise ImageReadError(source, "permission denied") from None
            except IsADirectoryError:
                raise ImageReadError(source, "it is a folder, not a file") from None
            except OSError as exc:
                if isinstance(exc, ImageReadError):
                    raise
                raise ImageReadError(source, exc.strerror or str(exc)) from None
            fp: IO[bytes] = self._file
        elif isinstance(source, bytes | bytearray | memoryview):
            if len(source) == 0:
                raise ImageReadError(source, "no data (0 bytes)")
            fp = io.BytesIO(bytes(source))
        elif hasattr(source, "read"):
            fp = source  # type: ignore[assignment]
        else:
            raise ImageReadError(
                source,
                "expected a path, bytes, a binary file object, a PIL image or a numpy array",
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(fp)
        except UnidentifiedImageError:
            self._close()
            raise ImageReadError(source, _not_an_image_reason(fp)) from None
        except Image.DecompressionBombError as exc:
            self._close()
            raise ImageReadError(source, f"image too large ({exc})") from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            self._close()
            raise ImageReadError(source, f"corrupt image ({exc})") from None
        self._image = image
        _check_size(image, source, self.max_pixels)
        return image

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._image is not None:
            self._image.close()
            self._image = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _not_an_image_reason(fp: IO[bytes]) -> str:
    try:
        fp.seek(0)
        head = fp.read(16)
    except (OSError, ValueError):
        return "not a recognised image format"
    if not head:
        return "no data (0 bytes)"
    if head.lstrip().startswith((b"<", b"{", b"%PDF")) or all(32 <= b < 127 or b in b"\r\n\t" for b in head):
        return "not an image (the file looks like text or a document)"
    return "not a recognised image format (supported: PNG, JPEG, BMP, TIFF, WebP, GIF, AVIF, HEIC)"


def _check_size(image: Image.Image, source: object, max_pixels: int | None) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageReadError(source, f"image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageReadError(
            source,
            f"image too large: {width}x{height} = {width * height:,} pixels exceeds "
            f"max_pixels={max_pixels:,}; pass a larger max_pixels (or --max-pixels) if you trust the file",
        )


def _from_pil(
    image: Image.Image, source: object, *, mode: Mode, alpha: Alpha, max_pixels: int | None
) -> np.ndarray:
    _check_size(image, source, max_pixels)
    try:
        if getattr(image, "is_animated", False):
            image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except Image.DecompressionBombError as exc:
        raise ImageReadError(source, f"image too large ({exc})") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as exc:
        text = str(exc)
        if "truncated" in text or "broken data stream" in text or isinstance(exc, EOFError):
            raise ImageReadError(source, f"the file is truncated ({text})") from None
        raise ImageReadError(source, f"corrupt image data ({text})") from None
    array = _pil_to_array(image, source, alpha=alpha)
    return _convert_mode(array, mode=mode, source=source)


def _pil_to_array(image: Image.Image, source: object, *, alpha: Alpha) -> np.ndarray:
    pil_mode = image.mode
    if pil_mode == "P" or pil_mode == "PA":
        has_alpha = "transparency" in image.info or pil_mode == "PA"
        image = image.convert("RGBA" if has_alpha else "RGB")
    elif pil_mode == "1":
        image = image.convert("L")
    elif pil_mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
        image = image.convert("RGB")
    elif pil_mode == "La":
        image = image.convert("LA")
    pil_mode = image.mode
    if pil_mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        array = np.asarray(image).astype(np.uint16)
    elif pil_mode == "I":
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ImageReadError(source, "32-bit integer image with values outside 0..65535 is not supported")
        array = array.astype(np.uint16)
    elif pil_mode == "F":
        array = np.asarray(image, dtype=np.float32)
    else:
        array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = _apply_alpha_rule(array, alpha)
    return np.ascontiguousarray(array)


def _apply_alpha_rule(array: np.ndarray, alpha: Alpha) -> np.ndarray:
    if alpha == "keep":
        return array
    colour, weight = array[..., :-1], array[..., -1:]
    if alpha == "drop":
        out = colour
    else:
        peak = float(np.iinfo(array.dtype).max) if array.dtype.kind in "ui" else 1.0
        background = peak if alpha == "white" else 0.0
        w = weight.astype(np.float32) / peak
        blended = colour.astype(np.float32) * w + background * (1.0 - w)
        out = np.clip(np.floor(blended + 0.5), 0, peak).astype(array.dtype) if array.dtype.kind in "ui" else blended
    return out[..., 0] if out.shape[2] == 1 else out


def _from_array(array: np.ndarray, *, mode: Mode) -> np.ndarray:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageReadError("<ndarray>", f"expected an (H, W) or (H, W, C) array with C in 1..4, got shape {array.shape}")
    if array.size == 0:
        raise ImageReadError("<ndarray>", f"the array is empty (shape {array.shape})")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return _convert_mode(array, mode=mode, source="<ndarray>")


def _convert_mode(array: np.ndarray, *, mode: Mode, source: object) -> np.ndarray:
    if mode == "auto":
        return array
    channels = 1 if array.ndim == 2 else array.shape[2]
    if mode == "rgb":
        if channels == 1:
            return np.repeat(array[..., None], 3, axis=2)
        if channels == 2:
            return np.repeat(array[..., :1], 3, axis=2)
        return array[..., :3]
    # gray
    if channels == 1:
        return array
    if channels == 2:
        return array[..., 0]
    return rgb2gray(array[..., :3])

