"""Decode any supported image source into a numpy array, or fail with one clear error.

The rules, written once:

* **Formats.** PNG, JPEG (and camera MPO), BMP, TIFF, WebP, GIF (first frame),
  AVIF (Pillow's own plugin), HEIC/HEIF (pillow-heif) and PPM/PGM. Pillow is
  told to try only these, so an EPS or PDF file never reaches Ghostscript.
* **Bit depth.** 8-bit images give ``uint8``; 16-bit grey PNG/TIFF give
  ``uint16``; 16-bit colour PNG/TIFF (which Pillow reduces to 8 bits) are
  decoded by OpenCV and stay ``uint16``; floating-point TIFF gives ``float32``.
* **Orientation.** The EXIF (or XMP) orientation tag is applied, so the array
  is the picture as a viewer shows it.
* **Palette and 1-bit.** Palette images become RGB (RGBA when they declare a
  transparent entry; grey ``(H, W)`` when every palette entry is grey);
  1-bit images become ``uint8`` 0/255.
* **Alpha.** One explicit rule (``alpha=``): ``"drop"`` (default) keeps the
  stored colour, ``"white"``/``"black"`` composite over that background,
  ``"keep"`` returns the alpha channel last.
* **Decompression bombs.** The size in the header is checked against
  ``max_pixels`` before any pixel is decoded.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Literal, TypeAlias

import numpy as np
from PIL import Image, UnidentifiedImageError

from lookalike.color import rgb2gray
from lookalike.errors import ImageReadError, ParameterError

ImageSource: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes] | Image.Image | np.ndarray
Mode: TypeAlias = Literal["auto", "rgb", "gray"]
Alpha: TypeAlias = Literal["drop", "white", "black", "keep"]

#: Largest image (in pixels) decoded by default: 16384 x 16384. Pass ``max_pixels`` to change it.
DEFAULT_MAX_PIXELS = 16384 * 16384

#: Pillow format names :func:`load_image` accepts (Pillow tries no other decoder). JPEG includes
#: MPO (multi-picture JPEG from cameras); HEIF is available when pillow-heif is installed.
SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF", "AVIF", "HEIF", "PPM")
_SUPPORTED_TEXT = "PNG, JPEG, BMP, TIFF, WebP, GIF, AVIF, HEIC/HEIF, PPM/PGM"

_MODES = ("auto", "rgb", "gray")
_ALPHAS = ("drop", "white", "black", "keep")

# What third-party decoders raise on damaged data. MemoryError is left alone on purpose.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
    ZeroDivisionError,
    OverflowError,
    RuntimeError,
)

# ISO base media (HEIF/AVIF) brands, bytes 8..12 after "ftyp" at 4..8.
_FTYP_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
_HEVC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx")
# How messages name each format of sniff_image_format.
# (Netpbm is left out: its two-byte magic is too common at the start of text to name in a message.)
_FORMAT_NAMES = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF", "webp": "WebP",
                 "avif": "AVIF", "heif": "HEIF"}

_plugins_registered = False
_plugins_lock = threading.Lock()
_open_formats: tuple[str, ...] = ()
_pillow_limit_lock = threading.Lock()


def _register_plugins() -> None:
    """Register the HEIC/HEIF decoder on first use (not at import time)."""
    global _plugins_registered, _open_formats
    if _plugins_registered:
        return
    with _plugins_lock:
        if _plugins_registered:
            return
        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:  # pragma: no cover - pillow-heif is a dependency
            pass
        Image.init()
        _open_formats = tuple(name for name in SUPPORTED_FORMATS if name in Image.OPEN)
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
        WebP, GIF (first frame), AVIF, HEIC/HEIF and PPM/PGM. A file object is
        read from its start and left open. An ndarray must be (H, W) or
        (H, W, C) with C in 1..4 (C = 2 or 4: the last channel is alpha); it is
        not copied unless ``mode`` or ``alpha`` asks for a conversion.
    mode : {"auto", "rgb", "gray"}, keyword-only
        ``"auto"`` keeps grey images 2-D (H, W) and colour images (H, W, 3);
        ``"rgb"`` always returns (H, W, 3) (a grey image is repeated);
        ``"gray"`` always returns (H, W), using MATLAB's ``rgb2gray`` weights
        (0.2989, 0.5870, 0.1140), rounded half away from zero for integer images.
    alpha : {"drop", "white", "black", "keep"}, keyword-only
        The rule for transparency (RGBA, LA, palette with a transparent entry):
        ``"drop"`` (default) discards the alpha channel and keeps the stored
        colour of every pixel, as MATLAB's ``imread`` and OpenCV's ``imread`` do;
        ``"white"`` / ``"black"`` composite the image over that background
        (``colour * a + background * (1 - a)``, rounded), which is what a viewer
        shows; ``"keep"`` appends the alpha channel after the colour channels of
        ``mode`` (RGBA, or grey + alpha). Float arrays are taken to hold alpha
        in 0..1.
    max_pixels : int or None, keyword-only
        Refuse images with more pixels (width x height) than this, reading only
        the header: a guard against decompression bombs. ``None`` disables the
        check (also Pillow's own limit, for that call).
    draft : (width, height), optional, keyword-only
        Allow a JPEG file to be decoded at a reduced scale (1/2, 1/4 or 1/8) as
        long as the result, after EXIF orientation, stays at least this size. Much
        faster when a small image is all that is needed (hashes, thumbnails).
        Ignored for other formats and for PIL images (which are not modified).

    Returns
    -------
    ndarray
        ``uint8`` for 8-bit images, ``uint16`` for 16-bit ones, ``float32`` for
        floating-point TIFFs; (H, W) or (H, W, 3), plus an alpha channel with
        ``alpha="keep"``. EXIF orientation is applied.

    Raises
    ------
    ImageReadError
        The source is missing, a folder, empty, truncated, corrupt, too large, not
        an image, or an array of the wrong shape. Also an ``OSError``. The message
        names the file and the cause.
    ParameterError
        ``mode``, ``alpha``, ``max_pixels`` or ``draft`` has an invalid value.

    Examples
    --------
    >>> import numpy as np
    >>> load_image(np.zeros((4, 5, 3), np.uint8), mode="gray").shape
    (4, 5)
    >>> rgba = np.zeros((1, 1, 4), np.uint8); rgba[..., 3] = 0      # fully transparent black
    >>> load_image(rgba, alpha="white").tolist()
    [[[255, 255, 255]]]
    """
    if mode not in _MODES:
        raise ParameterError(f"mode must be one of {', '.join(_MODES)}; got {mode!r}")
    if alpha not in _ALPHAS:
        raise ParameterError(f"alpha must be one of {', '.join(_ALPHAS)}; got {alpha!r}")
    _check_max_pixels(max_pixels)
    if draft is not None:
        draft = _check_draft(draft)
    if isinstance(source, np.ndarray):
        return _from_array(source, mode=mode, alpha=alpha)
    if isinstance(source, Image.Image):
        _check_size(source, source, max_pixels)
        return _decode(source, None, source, mode=mode, alpha=alpha, draft=None)  # never reconfigure theirs
    opener = open_image(source, max_pixels=max_pixels)
    with opener as image:
        return _decode(image, opener._fp, source, mode=mode, alpha=alpha, draft=draft)


class open_image:  # the name reads like ``open``: it is used like it
    """Open an image lazily (header only) as a context manager; errors as :class:`ImageReadError`.

    The PIL image it yields has not been decoded yet, so its ``size`` and
    ``format`` are cheap to read; its size has been checked against
    ``max_pixels``.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buffer = io.BytesIO(); Image.new("RGB", (32, 24)).save(buffer, "PNG")
    >>> with open_image(buffer.getvalue()) as image:
    ...     image.size, image.format
    ((32, 24), 'PNG')
    """

    def __init__(self, source: ImageSource, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
        _check_max_pixels(max_pixels)
        self.source = source
        self.max_pixels = max_pixels
        self._image: Image.Image | None = None
        self._file: IO[bytes] | None = None  # opened here, closed here
        self._fp: IO[bytes] | None = None  # the stream the image reads from

    def __enter__(self) -> Image.Image:
        _register_plugins()
        fp = self._fp = self._stream()
        try:
            image = _open_pil(fp, self.source)
            self._image = image
            _check_size(image, self.source, self.max_pixels)
        except BaseException:
            self._close()
            raise
        return image

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _stream(self) -> IO[bytes]:
        source = self.source
        if isinstance(source, str | os.PathLike):
            self._file = _open_file(source)  # closed in __exit__
            return self._file
        if isinstance(source, bytes | bytearray | memoryview):
            if len(source) == 0:
                raise ImageReadError(source, "no data (0 bytes)")
            return io.BytesIO(bytes(source))
        if hasattr(source, "read"):
            stream: IO[bytes] = source  # type: ignore[assignment]
            try:
                probe = stream.read(0)
            except (OSError, ValueError) as exc:
                raise ImageReadError(source, f"could not read the stream ({_one_line(exc)})") from None
            if not isinstance(probe, bytes | bytearray):
                raise ImageReadError(source, "the file object is not binary; open the file with mode 'rb'")
            seekable = getattr(stream, "seekable", None)
            if not (callable(seekable) and seekable()):
                try:
                    data = stream.read()
                except OSError as exc:
                    raise ImageReadError(source, f"could not read the stream ({exc})") from None
                if not data:
                    raise ImageReadError(source, "no data (0 bytes)")
                return io.BytesIO(bytes(data))
            return stream
        raise ImageReadError(
            source,
            f"expected a path, bytes, a binary file object, a PIL image or a numpy array, "
            f"got {type(source).__name__}",
        )

    def _close(self) -> None:
        if self._image is not None:
            # Not ``close()``: that would also close a file object the caller passed in.
            self._image.__exit__(None, None, None)
            self._image = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._fp = None




def _open_file(source: str | os.PathLike[str]) -> IO[bytes]:
    """The image file opened for reading, or one ImageReadError: missing, unreadable, a folder, not a
    regular file (a pipe would block), or empty."""
    path = os.fspath(source)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ImageReadError(source, "it is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ImageReadError(source, "not a regular file (a device, pipe or socket)")
        if info.st_size == 0:
            raise ImageReadError(source, "the file is empty (0 bytes)")
        return open(path, "rb")
    except FileNotFoundError:
        raise ImageReadError(source, "no such file") from None
    except PermissionError:
        raise ImageReadError(source, "permission denied") from None
    except ImageReadError:
        raise
    except OSError as exc:
        raise ImageReadError(source, exc.strerror or str(exc)) from None
    except ValueError:  # "embedded null byte": the operating system cannot hold such a name
        raise ImageReadError(source, "the path contains a NUL character (\\0), which no file name can hold") from None


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The whole content of an image file, or one :class:`ImageReadError` naming it and the cause.

    For callers that need the bytes as well as the pixels (a content hash, one decode of the
    same bytes): the same checks and messages as :func:`load_image` on a path.
    """
    with _open_file(path) as handle:
        try:
            data = handle.read()
        except OSError as exc:
            raise ImageReadError(path, exc.strerror or str(exc)) from None
    if not data:
        raise ImageReadError(path, "the file is empty (0 bytes)")
    return data


def _check_max_pixels(max_pixels: int | None) -> None:
    if max_pixels is None:
        return
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int | np.integer) or max_pixels <= 0:
        raise ParameterError(f"max_pixels must be a positive integer or None; got {max_pixels!r}")


def _check_draft(draft: object) -> tuple[int, int]:
    values = tuple(draft) if isinstance(draft, tuple | list) else ()
    if len(values) != 2 or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ParameterError(f"draft must be a (width, height) pair of positive integers; got {draft!r}")
    return int(values[0]), int(values[1])


@contextmanager
def _pillow_limit_lifted() -> Iterator[None]:
    """Lift Pillow's own bomb limit while we parse or decode an image that ``max_pixels`` allows.

    Pillow refuses more than ``2 * Image.MAX_IMAGE_PIXELS`` pixels (about 179
    million) whatever the caller wants; lookalike checks ``max_pixels`` itself,
    from the header, before decoding. Only images beyond Pillow's limit take
    this path, under a lock.
    """
    with _pillow_limit_lock:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _beyond_pillow_limit(image: Image.Image) -> bool:
    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    return limit is not None and width * height > 2 * limit


def _pil_open(fp: IO[bytes]) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(fp, formats=_open_formats)


def _open_pil(fp: IO[bytes], source: object) -> Image.Image:
    """``Image.open`` (header only), every failure turned into one ImageReadError."""
    try:
        try:
            return _pil_open(fp)
        except Image.DecompressionBombError:
            # Beyond Pillow's limit: read the header anyway so that max_pixels decides,
            # with the real size in the message.
            fp.seek(0)
            with _pillow_limit_lifted():
                return _pil_open(fp)
    except UnidentifiedImageError:
        raise ImageReadError(source, _unidentified_reason(fp)) from None
    except _DECODE_ERRORS as exc:
        kind = _sniff(fp)
        what = f"corrupt {kind} header" if kind else "corrupt image header"
        raise ImageReadError(source, f"{what} ({_one_line(exc)})") from None


def sniff_image_format(head: bytes) -> str | None:
    """Name the image format from a file's first bytes (its magic number), or ``None``.

    Only the formats lookalike decodes are recognised: JPEG, PNG, GIF, BMP,
    TIFF, WebP, HEIF/HEIC, AVIF and the Netpbm family (PBM, PGM, PPM).

    Examples
    --------
    >>> sniff_image_format(bytes.fromhex("89504e470d0a1a0a") + bytes(8))
    'png'
    >>> sniff_image_format(b"hello world") is None
    True
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"BM") and len(head) >= 14:
        return "bmp"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in _FTYP_BRANDS:
        return "avif" if head[8:12] in (b"avif", b"avis") else "heif"
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n#":
        return "netpbm"
    return None


def _sniff(fp: IO[bytes]) -> str | None:
    """The format a file claims to be from its magic number, as messages name it (``"PNG"``), or None."""
    try:
        fp.seek(0)
        head = fp.read(32)
    except (OSError, ValueError):
        return None
    kind = sniff_image_format(head)
    if kind == "heif" and head[8:12] in _HEVC_BRANDS:
        return "HEIC"
    if kind == "bmp" and _looks_like_text(head):  # "BM" starting a line of text
        return None
    return _FORMAT_NAMES.get(kind) if kind is not None else None


def _looks_like_text(head: bytes) -> bool:
    return all(32 <= b < 127 or b in b"\r\n\t\f" for b in head) or head.startswith(b"\xef\xbb\xbf")


def _unidentified_reason(fp: IO[bytes]) -> str:
    kind = _sniff(fp)
    if kind is not None:
        return (
            f"the file starts like a {kind} image but its header is damaged or cut short "
            "(truncated or corrupt file)"
        )
    try:
        fp.seek(0)
        head = fp.read(64)
    except (OSError, ValueError):
        head = b""
    if head.startswith(b"%PDF"):
        return f"not an image (this is a PDF document); supported formats: {_SUPPORTED_TEXT}"
    if head.startswith(b"%!PS"):
        return f"not an image (this is a PostScript/EPS document); supported formats: {_SUPPORTED_TEXT}"
    if head and _looks_like_text(head):
        return f"not an image (the file looks like text); supported formats: {_SUPPORTED_TEXT}"
    return f"not a recognised image format; supported formats: {_SUPPORTED_TEXT}"


def _check_size(image: Image.Image, source: object, max_pixels: int | None) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageReadError(source, f"image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageReadError(
            source,
            f"image too large: {width}x{height} = {width * height:,} pixels exceeds the limit of "
            f"{max_pixels:,} pixels (a decompression-bomb guard); pass a larger max_pixels=N or "
            "max_pixels=None if you trust the file",
        )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _decode(
    image: Image.Image,
    fp: IO[bytes] | None,
    source: object,
    *,
    mode: Mode,
    alpha: Alpha,
    draft: tuple[int, int] | None,
) -> np.ndarray:
    """Decode an opened (header-checked) PIL image into the array ``load_image`` promises."""
    orientation = 1
    if draft is not None and image.format in ("JPEG", "MPO"):
        orientation = exif_orientation(image)
        width, height = draft
        image.draft(image.mode, (height, width) if orientation >= 5 else (width, height))
    try:
        array = _decode_16bit_colour(image, fp)
        if array is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                if getattr(image, "n_frames", 1) > 1 and image.tell() != 0:
                    image.seek(0)
                if _beyond_pillow_limit(image):
                    with _pillow_limit_lifted():
                        image.load()
                else:
                    image.load()
            array = _pil_to_array(image)
        if draft is None or image.format not in ("JPEG", "MPO"):
            orientation = exif_orientation(image)
    except Image.DecompressionBombError as exc:
        raise ImageReadError(source, f"image too large ({_one_line(exc)})") from None
    except _Unsupported as exc:
        raise ImageReadError(source, f"unsupported {image.format or 'image'} file: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise ImageReadError(source, _decode_failure(exc, image)) from None
    return _finish(_orient(array, orientation), mode=mode, alpha=alpha)


def _decode_failure(exc: BaseException, image: Image.Image) -> str:
    text = _one_line(exc)
    kind = image.format or "image"
    if "truncated" in text or isinstance(exc, EOFError):
        return f"the {kind} file is truncated: it ends before the image data is complete ({text})"
    return f"corrupt {kind} image data ({text})"


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag of an open PIL image (1..8); 1 when absent, out of range or unreadable
    (as viewers show such a file: as stored). The one orientation reader of lookalike.

    >>> from PIL import Image
    >>> exif_orientation(Image.new("L", (4, 2)))
    1
    """
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # an unreadable EXIF block, whatever the plugin raises
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def oriented_size(image: Image.Image) -> tuple[int, int]:
    """``(width, height)`` of an open PIL image as :func:`load_image` returns it (after EXIF orientation).

    >>> from PIL import Image
    >>> oriented_size(Image.new("L", (4, 2)))
    (4, 2)
    """
    width, height = image.size
    return (height, width) if exif_orientation(image) >= 5 else (width, height)




def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation to an (H, W[, C]) array (views; copied later if needed)."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(array, -1)
    if orientation == 7:
        return np.rot90(array, 2).swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(array, 1)
    return array


def _rawmode(image: Image.Image) -> str:
    tile = getattr(image, "tile", None)
    if not tile:
        return ""
    args = tile[0][3]
    if isinstance(args, str):
        return args
    if isinstance(args, tuple) and args and isinstance(args[0], str):
        return args[0]
    return ""


def _decode_16bit_colour(image: Image.Image, fp: IO[bytes] | None) -> np.ndarray | None:
    """16-bit colour PNG/TIFF, which Pillow would reduce to 8 bits, decoded by OpenCV; else None."""
    rawmode = _rawmode(image)
    if fp is None or image.format not in ("PNG", "TIFF") or ";16" not in rawmode:
        return None
    if not rawmode.startswith(("RGB", "LA")):
        return None
    import cv2

    fp.seek(0)
    data = np.frombuffer(fp.read(), np.uint8)
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16 or array.ndim != 3 or array.shape[2] not in (3, 4):
        image.load()  # let Pillow say what is wrong (truncated, corrupt)
        raise OSError("OpenCV could not decode the 16-bit colour data")
    if rawmode.startswith("LA"):
        return array[..., [0, 3]]
    return array[..., [2, 1, 0, 3]] if array.shape[2] == 4 else array[..., ::-1]


class _Unsupported(ValueError):
    """A well-formed image that lookalike does not read (the message says why)."""


def _pil_to_array(image: Image.Image) -> np.ndarray:
    pil_mode = image.mode
    if pil_mode in ("P", "PA"):
        if pil_mode == "PA" or "transparency" in image.info:
            image = image.convert("RGBA")
        elif _grey_palette(image):
            image = image.convert("L")
        else:
            image = image.convert("RGB")
    elif pil_mode == "1":
        image = image.convert("L")
    elif pil_mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        image = image.convert("RGB")
    elif pil_mode == "RGBa":
        image = image.convert("RGBA")
    elif pil_mode == "La":
        image = image.convert("LA")
    pil_mode = image.mode
    if pil_mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if pil_mode == "I":
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise _Unsupported("32-bit integer samples outside 0..65535 (only 8 and 16-bit integers are read)")
        return array.astype(np.uint16)
    if pil_mode == "F":
        return np.asarray(image, dtype=np.float32)
    return np.asarray(image)


def _grey_palette(image: Image.Image) -> bool:
    palette = image.getpalette()
    if not palette:
        return False
    entries = np.asarray(palette[: len(palette) // 3 * 3]).reshape(-1, 3)
    return bool(np.all(entries[:, 0] == entries[:, 1]) and np.all(entries[:, 1] == entries[:, 2]))


def _from_array(array: np.ndarray, *, mode: Mode, alpha: Alpha) -> np.ndarray:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
        raise ImageReadError(
            "<ndarray>",
            f"expected an (H, W) grey or (H, W, C) array with C = 1, 2, 3 or 4 channels last, "
            f"got shape {array.shape}",
        )
    if array.size == 0:
        raise ImageReadError("<ndarray>", f"the array is empty (shape {array.shape})")
    if array.dtype.kind not in "uifb":
        raise ImageReadError("<ndarray>", f"expected integer, float or bool samples, got dtype {array.dtype}")
    return _finish(array, mode=mode, alpha=alpha)


def _finish(array: np.ndarray, *, mode: Mode, alpha: Alpha) -> np.ndarray:
    """Apply the alpha rule and the mode to an (H, W[, C]) array; C in 1..4, alpha last."""
    channels = 1 if array.ndim == 2 else array.shape[2]
    weight: np.ndarray | None = None
    colour = array
    if channels in (2, 4):
        colour, weight = array[..., :-1], array[..., -1]
    if colour.ndim == 3 and colour.shape[2] == 1:
        colour = colour[..., 0]
    if weight is not None and alpha in ("white", "black"):
        colour = _composite(colour, weight, background=alpha)
    colour = _convert_mode(colour, mode)
    if weight is not None and alpha == "keep":
        if colour.ndim == 2:
            colour = colour[..., None]
        colour = np.concatenate([colour, weight[..., None].astype(colour.dtype, copy=False)], axis=2)
    return np.ascontiguousarray(colour)


def _composite(colour: np.ndarray, weight: np.ndarray, *, background: str) -> np.ndarray:
    integer = colour.dtype.kind in "ui"
    peak = float(np.iinfo(colour.dtype).max) if integer else 1.0
    fill = peak if background == "white" else 0.0
    w = weight.astype(np.float64) / peak
    if colour.ndim == 3:
        w = w[..., None]
    blended = colour.astype(np.float64) * w + fill * (1.0 - w)
    if integer:
        return np.clip(np.floor(blended + 0.5), 0, peak).astype(colour.dtype)
    return blended.astype(colour.dtype) if colour.dtype.kind == "f" else blended


def _convert_mode(colour: np.ndarray, mode: Mode) -> np.ndarray:
    if mode == "auto":
        return colour
    if mode == "rgb":
        return colour if colour.ndim == 3 else np.repeat(colour[..., None], 3, axis=2)
    if colour.ndim == 2:
        return colour
    grey = rgb2gray(colour)
    return grey.astype(colour.dtype) if colour.dtype.kind == "f" else grey
