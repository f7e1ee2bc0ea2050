"""Local features: keypoints and descriptors from SIFT, RootSIFT, AKAZE and ORB (OpenCV).

Coordinates follow the package convention: (x, y) in pixels of the image that
was passed in, with the centre of the top-left pixel at (0, 0), as OpenCV does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from lookalike.errors import ParameterError

__all__ = [
    "DESCRIPTOR_SIZES",
    "LOCAL_METHODS",
    "LocalFeatures",
    "extract_local",
    "mirror_features",
    "to_gray8",
]

#: The local feature methods :func:`extract_local` knows.
LOCAL_METHODS = ("sift", "rootsift", "akaze", "orb")

#: Descriptor width per method: 128 floats for SIFT/RootSIFT, bytes of packed bits for the binary ones.
DESCRIPTOR_SIZES = {"sift": 128, "rootsift": 128, "akaze": 61, "orb": 32}

# Smaller images give no keypoints (and make OpenCV's AKAZE and ORB assert).
_MIN_SIDE = 8
_FORMAT_VERSION = 1

#: Largest tilt simulated with ``affine=True`` (tilts 1, sqrt 2, 2, 2 sqrt 2, 4: views up to about
#: 75 degrees off-axis); OpenCV's default of 5 adds views at the cost of time.
AFFINE_MAX_TILT = 4


@dataclass(frozen=True, eq=False)
class LocalFeatures:
    """Keypoints and descriptors of one image.

    Attributes
    ----------
    keypoints : ndarray, float32, shape (N, 4)
        One row per keypoint: ``x, y`` in pixels of the original image (not the
        working copy used for detection), ``size`` (diameter of the described
        region, in original pixels) and ``angle`` in degrees (OpenCV's convention,
        -1 when the detector assigns none).
    descriptors : ndarray, shape (N, D)
        ``float32`` (N, 128) for SIFT and RootSIFT; ``uint8`` packed bits for AKAZE
        (N, 61) and ORB (N, 32), compared with the Hamming distance.
    method : str
        One of :data:`LOCAL_METHODS`.
    image_size : (int, int)
        ``(width, height)`` of the original image.
    working_scale : float
        Original pixels per pixel of the copy the detector ran on: 1.0 when the
        image was not downscaled, 2.5 when a 4000-pixel-wide image was detected at
        1600. Keypoint positions are only as precise as that copy.

    Notes
    -----
    Instances are immutable and picklable. :meth:`to_arrays` / :meth:`from_arrays`
    and :meth:`to_npz` / :meth:`from_npz` store them without pickle.

    Examples
    --------
    >>> import numpy as np
    >>> f = extract_local(np.zeros((32, 32), np.uint8), method="orb")
    >>> len(f), f.descriptors.shape, f.image_size
    (0, (0, 32), (32, 32))
    """

    keypoints: np.ndarray
    descriptors: np.ndarray
    method: str
    image_size: tuple[int, int]
    working_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.method not in LOCAL_METHODS:
            raise ParameterError(f"method must be one of {LOCAL_METHODS}, got {self.method!r}")
        kp = np.asarray(self.keypoints, dtype=np.float32).reshape(-1, 4)
        width = DESCRIPTOR_SIZES[self.method]
        dtype = np.uint8 if self.is_binary else np.float32
        desc = np.asarray(self.descriptors)
        if desc.size == 0:
            desc = np.zeros((0, width), dtype)
        if desc.ndim != 2 or desc.shape[1] != width or desc.dtype != dtype:
            raise ParameterError(
                f"{self.method} descriptors must be {np.dtype(dtype).name} (N, {width}), "
                f"got {desc.dtype} {desc.shape}"
            )
        if len(desc) != len(kp):
            raise ParameterError(
                f"{len(kp)} keypoints but {len(desc)} descriptors; they must pair up one to one"
            )
        size = tuple(int(v) for v in self.image_size)
        if len(size) != 2 or min(size) < 0:
            raise ParameterError(f"image_size must be (width, height), got {self.image_size!r}")
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "descriptors", desc)
        scale = float(self.working_scale)
        if not np.isfinite(scale) or scale <= 0:
            raise ParameterError(f"working_scale must be a positive number, got {self.working_scale!r}")
        object.__setattr__(self, "image_size", size)
        object.__setattr__(self, "working_scale", scale)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def __repr__(self) -> str:
        w, h = self.image_size
        return f"LocalFeatures(method={self.method!r}, n={len(self)}, image_size=({w}, {h}))"

    @property
    def is_binary(self) -> bool:
        """True for binary descriptors (AKAZE, ORB), matched with the Hamming distance."""
        return self.method in ("akaze", "orb")

    @property
    def xy(self) -> np.ndarray:
        """Keypoint positions, float32 (N, 2), ``(x, y)`` in original pixels."""
        return self.keypoints[:, :2]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for ``np.savez`` or any array store); inverse of :meth:`from_arrays`."""
        return {
            "keypoints": self.keypoints,
            "descriptors": self.descriptors,
            "method": np.array(self.method),
            "image_size": np.array(self.image_size, dtype=np.int64),
            "working_scale": np.array(self.working_scale, dtype=np.float64),
            "format_version": np.array(_FORMAT_VERSION),
        }

    @classmethod
    def from_arrays(cls, arrays: Any) -> LocalFeatures:
        """Rebuild features from :meth:`to_arrays` output (a dict or an open ``.npz``)."""
        try:
            version = int(arrays["format_version"])
            if version != _FORMAT_VERSION:
                raise ParameterError(
                    f"local features format version {version} is not supported (expected "
                    f"{_FORMAT_VERSION}); extract the features again"
                )
            return cls(
                keypoints=np.asarray(arrays["keypoints"]),
                descriptors=np.asarray(arrays["descriptors"]),
                method=str(np.asarray(arrays["method"])),
                image_size=tuple(int(v) for v in np.asarray(arrays["image_size"])),  # type: ignore[arg-type]
                working_scale=float(arrays["working_scale"]),
            )
        except KeyError as exc:
            raise ParameterError(
                f"not stored local features: missing array {exc}; expected the output of "
                "LocalFeatures.to_arrays()"
            ) from None

    def to_npz(self, path: str | os.PathLike[str]) -> None:
        """Write the features to an uncompressed ``.npz`` file."""
        np.savez(path, **self.to_arrays())  # type: ignore[arg-type]

    @classmethod
    def from_npz(cls, path: str | os.PathLike[str]) -> LocalFeatures:
        """Read features written by :meth:`to_npz`."""
        with np.load(path, allow_pickle=False) as data:
            return cls.from_arrays(data)


def extract_local(
    image: np.ndarray,
    *,
    method: str = "rootsift",
    max_keypoints: int = 4000,
    working_size: int = 1600,
    affine: bool = False,
) -> LocalFeatures:
    """Detect keypoints and compute their descriptors.

    Parameters
    ----------
    image : ndarray
        (H, W) grey or (H, W, 3) / (H, W, 4) RGB(A) array, ``uint8``, ``uint16`` or
        float in [0, 1]. Colour is converted to grey with OpenCV's luma weights
        (the same grey as ``cv2.cvtColor(..., COLOR_RGB2GRAY)``); 16-bit images are
        scaled to 8 bits (divided by 257).
    method : {"rootsift", "sift", "akaze", "orb"}, keyword-only
        ``"sift"``: Lowe's SIFT (2004); ``"rootsift"``: SIFT descriptors made
        L1-unit and square-rooted, so that the Euclidean distance between them
        compares histograms with the Hellinger kernel (Arandjelovic and Zisserman,
        "Three things everyone should know to improve object retrieval", CVPR 2012);
        ``"akaze"``: Alcantarilla et al. 2013 (binary M-LDB descriptors);
        ``"orb"``: Rublee et al. 2011 (binary rBRIEF descriptors).
    max_keypoints : int, keyword-only
        Keep at most this many keypoints, the strongest by detector response.
    working_size : int, keyword-only
        Images whose longest side exceeds this are downscaled (area interpolation)
        to that size for detection; keypoints are mapped back to original pixels.
    affine : bool, keyword-only
        Simulate affine views (tilts and in-plane rotations) as ASIFT does
        (Morel and Yu, "ASIFT: A new framework for fully affine invariant image
        comparison", SIAM J. Imaging Sciences 2009) through ``cv2.AffineFeature``.
        Many times slower (tens of simulated views) but matches across strong
        viewpoint changes. ``max_keypoints`` caps the total over all views.

    Returns
    -------
    LocalFeatures

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> image = (rng.random((120, 160)) * 255).astype(np.uint8)
    >>> f = extract_local(image, method="sift", max_keypoints=50)
    >>> len(f) <= 50, f.descriptors.dtype.name, f.image_size
    (True, 'float32', (160, 120))
    """
    import cv2

    if method not in LOCAL_METHODS:
        raise ParameterError(
            f"method must be one of {', '.join(LOCAL_METHODS)}, got {method!r}; "
            "pick 'rootsift' (default) unless you need binary descriptors"
        )
    if isinstance(max_keypoints, bool) or not isinstance(max_keypoints, int | np.integer) or max_keypoints < 1:
        raise ParameterError(f"max_keypoints must be a positive integer, got {max_keypoints!r}")
    if isinstance(working_size, bool) or not isinstance(working_size, int | np.integer) or working_size < 16:
        raise ParameterError(f"working_size must be an integer of at least 16 pixels, got {working_size!r}")
    gray = to_gray8(image)
    height, width = gray.shape
    if min(height, width) < _MIN_SIDE:
        return _empty(method, (width, height), 1.0)

    scale = 1.0
    if max(height, width) > working_size:
        scale = working_size / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        # the exact per-axis factors of the resize, for mapping pixel centres back
        sx, sy = width / size[0], height / size[1]
    else:
        sx = sy = 1.0

    detector = _detector(method, max_keypoints)
    if affine:
        detector = cv2.AffineFeature.create(detector, maxTilt=AFFINE_MAX_TILT)
    keypoints, descriptors = detector.detectAndCompute(gray, None)
    if not keypoints or descriptors is None:
        return _empty(method, (width, height), max(sx, sy))

    response = np.array([k.response for k in keypoints], dtype=np.float64)
    if len(keypoints) > max_keypoints:
        # strongest first; a stable sort keeps OpenCV's order among ties
        order = np.sort(np.argsort(-response, kind="stable")[:max_keypoints])
    else:
        order = np.arange(len(keypoints))
    kp = np.array([(*keypoints[i].pt, keypoints[i].size, keypoints[i].angle) for i in order],
                  dtype=np.float64).reshape(-1, 4)
    desc = descriptors[order]
    if scale != 1.0:
        kp[:, 0] = (kp[:, 0] + 0.5) * sx - 0.5
        kp[:, 1] = (kp[:, 1] + 0.5) * sy - 0.5
        kp[:, 2] *= 0.5 * (sx + sy)
    if method == "rootsift":
        desc = root_sift(desc)
    elif method == "sift":
        desc = np.ascontiguousarray(desc, dtype=np.float32)
    return LocalFeatures(kp.astype(np.float32), desc, method, (width, height), max(sx, sy))


#: Where each of the 128 values of a SIFT descriptor goes when the image is mirrored left-right.
#: OpenCV's descriptor is 4 x 4 cells (rows, columns of the keypoint's rotated frame) x 8 orientation
#: bins; in that frame the mirror reverses the rows, and it reflects each gradient orientation.
_MIRROR_SIFT = np.arange(128).reshape(4, 4, 8)[::-1][:, :, (-np.arange(8)) % 8].ravel()


def mirror_features(features: LocalFeatures) -> LocalFeatures:
    """The SIFT or RootSIFT features of the left-right mirror image, from the features of the image.

    The mirror image of a keypoint at ``x`` is at ``width - 1 - x + working_scale / 2`` (OpenCV's
    SIFT places keypoints half a working pixel off the pixel grid) with the angle ``180 - angle``,
    and its descriptor is the same histogram with the cells and the orientation bins reflected
    (the mirror-invariant descriptors of Ma et al., "MI-SIFT: mirror and inversion invariant
    generalization for SIFT descriptor", CIVR 2010, rest on the same reorganisation). Measured
    against detecting on the mirrored pixels: the same keypoints with identical descriptors for
    about 70 % of them; the rest differ because SIFT's octaves subsample on a grid that mirroring
    shifts. No image is decoded, so matching a mirrored copy costs one more matching, not a decode
    and a detection.

    Parameters
    ----------
    features : LocalFeatures
        SIFT or RootSIFT features (:func:`extract_local`); the binary descriptors cannot be mirrored.

    Returns
    -------
    LocalFeatures
        Same method, image size and working scale; mirroring twice gives the features back.

    Examples
    --------
    >>> import numpy as np
    >>> f = extract_local(np.random.default_rng(0).integers(0, 256, (96, 128), np.uint8), method="rootsift")
    >>> m = mirror_features(f)
    >>> bool(np.allclose(mirror_features(m).descriptors, f.descriptors)), m.image_size == f.image_size
    (True, True)
    """
    if not isinstance(features, LocalFeatures):
        raise ParameterError(f"expected LocalFeatures (from extract_local), got {type(features).__name__}")
    if features.method not in ("sift", "rootsift"):
        raise ParameterError(
            f"only SIFT and RootSIFT features can be mirrored, not {features.method}; "
            "extract the mirrored image's features instead (extract_local(image[:, ::-1]))"
        )
    keypoints = np.array(features.keypoints, dtype=np.float32, copy=True)
    keypoints[:, 0] = features.image_size[0] - 1 - keypoints[:, 0] + 0.5 * features.working_scale
    oriented = keypoints[:, 3] >= 0
    keypoints[oriented, 3] = np.mod(180.0 - keypoints[oriented, 3], 360.0)
    descriptors = features.descriptors[:, _MIRROR_SIFT] if len(features) else features.descriptors
    return LocalFeatures(keypoints, np.ascontiguousarray(descriptors), features.method, features.image_size,
                         features.working_scale)


def _empty(method: str, size: tuple[int, int], scale: float) -> LocalFeatures:
    return LocalFeatures(np.zeros((0, 4), np.float32), np.zeros((0, 0)), method, size, scale)


def to_gray8(image: np.ndarray) -> np.ndarray:
    """A contiguous ``uint8`` (H, W) grey copy (or view) of an image array, for OpenCV detectors.

    Colour uses OpenCV's weights (0.299, 0.587, 0.114), the grey that
    ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``-style recipes feed SIFT; alpha is
    ignored; ``uint16`` is divided by 257; floats are read as [0, 1].
    """
    import cv2

    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ParameterError(
            f"image must be an (H, W) grey or (H, W, 3) colour array, got shape {array.shape}"
        )
    if array.size == 0:
        raise ParameterError(f"image is empty (shape {array.shape})")
    if array.dtype == np.uint8:
        pass
    elif array.dtype == np.uint16:
        array = ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype.kind == "f":
        if not np.all(np.isfinite(array)):
            raise ParameterError("image contains NaN or infinite values; replace them first")
        array = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    else:
        raise ParameterError(
            f"image dtype must be uint8, uint16, bool or float in [0, 1], got {array.dtype}; "
            "convert it first"
        )
    if array.ndim == 3:
        if array.shape[2] == 1:
            array = array[..., 0]
        else:
            array = cv2.cvtColor(np.ascontiguousarray(array[..., :3]), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(array)


def _detector(method: str, max_keypoints: int) -> Any:
    import cv2

    if method in ("sift", "rootsift"):
        # nfeatures keeps the strongest; ties can leave a few more, trimmed afterwards
        return cv2.SIFT.create(nfeatures=int(max_keypoints))
    if method == "orb":
        return cv2.ORB.create(nfeatures=int(max_keypoints))
    return cv2.AKAZE.create()


def root_sift(descriptors: np.ndarray) -> np.ndarray:
    """RootSIFT (Arandjelovic & Zisserman 2012): L1-normalise each SIFT descriptor, then take the square root.

    ``descriptors`` is (n, 128), any numeric dtype; returns float32 (n, 128) rows of unit L2 norm
    (rows of zeros stay zero).

    >>> import numpy as np
    >>> [round(float(v), 3) for v in root_sift(np.array([[4.0, 0.0, 0.0, 12.0]]))[0]]
    [0.5, 0.0, 0.0, 0.866]
    """
    desc = descriptors.astype(np.float32)
    norm = np.abs(desc).sum(axis=1, keepdims=True)
    desc /= np.maximum(norm, np.finfo(np.float32).tiny)
    return np.sqrt(desc, out=desc)
