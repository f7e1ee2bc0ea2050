"""Phase congruency exactly as the ``phasecong2`` inside Zhang's ``FeatureSIM.m``.

This is Kovesi's PC_2 measure with the settings and the noise compensation of
the copy embedded in FeatureSIM.m (nscale=4, norient=4, minWaveLength=6,
mult=2, sigmaOnf=0.55, dThetaOnSigma=1.2, k=2, epsilon=1e-4, a Butterworth
low-pass of radius 0.45 and order 15 on every log-Gabor, noise estimated from
the median squared amplitude at the smallest scale, threshold divided by 1.7,
``PC = sum_o max(Energy_o - T_o, 0) / sum_o sum_s A_so``). It is *not*
phasepack's ``phasecong`` (Kovesi's later ``phasecong3``-style code), which
gives other maps and does not reproduce FSIM.

References
----------
P. Kovesi, "Image features from phase congruency", Videre: Journal of Computer
Vision Research 1(3), 1999.
L. Zhang, L. Zhang, X. Mou and D. Zhang, "FSIM: a feature similarity index for
image quality assessment", IEEE Trans. Image Processing 20(8), 2378-2386, 2011.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["phase_congruency"]

NSCALE = 4
NORIENT = 4
MIN_WAVELENGTH = 6.0
MULT = 2.0
SIGMA_ON_F = 0.55
D_THETA_ON_SIGMA = 1.2
K = 2.0
EPSILON = 1e-4
LOWPASS_CUTOFF = 0.45
LOWPASS_ORDER = 15


def _normalised_range(n: int) -> np.ndarray:
    """Frequencies normalised to +/- 0.5 the way Kovesi's code sets them up.

    Odd sizes divide by ``n - 1`` (not ``n``), as the MATLAB code does.
    """
    if n % 2:
        return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
    return np.arange(-n / 2, n / 2) / n


#: Filter banks for images up to this many pixels (after FSIM's downsampling
#: almost every photo) are cached: 128 bytes a pixel in single precision.
CACHE_MAX_PIXELS = 512 * 512


def _filter_bank(rows: int, cols: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The filter bank for one image size: cached for the usual sizes, else built afresh."""
    if rows * cols <= CACHE_MAX_PIXELS:
        return _cached_filter_bank(rows, cols, dtype)
    return _build_filter_bank(rows, cols, dtype)


def _build_filter_bank(rows: int, cols: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Filters and per-orientation noise constants for one image size (read-only).

    Returns
    -------
    filters : (norient, nscale, rows, cols) complex array of precision ``dtype``
        log-Gabor x low-pass x angular spread, zero frequency at the corner.
    noise_factor : (norient,) float64
        ``(2 sum(EstSumAn2) + 4 sum(EstSumAiAj)) / EM_n``: multiplied by the
        median squared amplitude over ``-log(0.5)`` it gives ``EstNoiseEnergy2``.
    """
    x, y = np.meshgrid(_normalised_range(cols), _normalised_range(rows))
    radius = np.fft.ifftshift(np.sqrt(x * x + y * y))
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    del x, y
    lowpass = 1.0 / (1.0 + (radius / LOWPASS_CUTOFF) ** (2 * LOWPASS_ORDER))
    radius[0, 0] = 1.0
    sintheta = np.sin(theta)
    costheta = np.cos(theta)
    del theta

    log_gabor = np.empty((NSCALE, rows, cols))
    for s in range(NSCALE):
        fo = 1.0 / (MIN_WAVELENGTH * MULT**s)
        log_gabor[s] = np.exp(-(np.log(radius / fo) ** 2) / (2 * math.log(SIGMA_ON_F) ** 2))
        log_gabor[s] *= lowpass
        log_gabor[s, 0, 0] = 0.0

    # Complex filters: a complex-by-complex product is faster than a mixed one.
    filters = np.empty((NORIENT, NSCALE, rows, cols), dtype=np.result_type(dtype, np.complex64))
    noise_factor = np.empty(NORIENT)
    theta_sigma = math.pi / NORIENT / D_THETA_ON_SIGMA
    for o in range(NORIENT):
        angle = o * math.pi / NORIENT
        ds = sintheta * math.cos(angle) - costheta * math.sin(angle)
        dc = costheta * math.cos(angle) + sintheta * math.sin(angle)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread = np.exp(-(dtheta**2) / (2 * theta_sigma**2))
        oriented = log_gabor * spread
        filters[o] = oriented

        # The noise model depends only on the filters: the spatial filters
        # real(ifft2(filter)) * sqrt(rows * cols) give the sum(An^2) and
        # sum(Ai Aj) terms of EstNoiseEnergy2; EM_n = sum(filter^2) at scale 1.
        spatial = np.fft.ifft2(oriented).real * math.sqrt(rows * cols)
        sum_an2 = float((spatial**2).sum())
        # sum_{i<j} a_i a_j = ((sum a)^2 - sum a^2) / 2, summed over pixels.
        sum_aiaj = (float((spatial.sum(axis=0) ** 2).sum()) - sum_an2) / 2
        em_n = float((oriented[0] ** 2).sum())
        noise_factor[o] = (2 * sum_an2 + 4 * sum_aiaj) / em_n

    filters.flags.writeable = False
    noise_factor.flags.writeable = False
    return filters, noise_factor


_cached_filter_bank = functools.lru_cache(maxsize=4)(_build_filter_bank)


def phase_congruency(image: np.ndarray, *, single: bool = True) -> np.ndarray:
    """Phase congruency map of FeatureSIM.m's ``phasecong2``.

    Parameters
    ----------
    image : (H, W) array
        Grey image in any units (PC does not depend on contrast); H, W >= 2.
    single : bool
        Filter in single precision (the default: about twice as fast; maps
        differ from double precision by about 1e-6, FSIM by far less).

    Returns
    -------
    (H, W) float64 array in [0, 1]
        Pixels where every filter response is zero (flat images) get 0.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((64, 64)); img[16:48, 16:48] = 100.0
    >>> pc = phase_congruency(img)
    >>> [int(x) for x in np.flatnonzero(pc[32] > 0.8)]  # the square's left and right edges
    [16, 47]
    """
    import cv2
    import scipy.fft

    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"phase congruency needs a 2-D image of at least 2x2, got {image.shape}")
    rows, cols = image.shape
    real = np.float32 if single else np.float64
    filters, noise_factor = _filter_bank(rows, cols, np.dtype(real).char)
    # The 1/N of every inverse transform, applied once to the spectrum.
    spectrum = scipy.fft.fft2(image.astype(real))
    spectrum *= real(1.0 / (rows * cols))

    # Work buffers for one orientation (NSCALE responses).
    shape = (NSCALE, rows, cols)
    product = np.empty(shape, dtype=spectrum.dtype)
    eo = np.empty(shape, dtype=spectrum.dtype)
    amplitude = np.empty(shape, dtype=real)
    total = np.empty((rows, cols), dtype=spectrum.dtype)
    # cv2 sees a complex array as a 2-channel real one with the same layout.
    product_cv = product.view(real).reshape(NSCALE, rows, cols, 2)
    eo_cv = eo.view(real).reshape(NSCALE, rows, cols, 2)
    flags = cv2.DFT_COMPLEX_OUTPUT

    an_all = np.zeros((rows, cols), dtype=real)
    energy_all = np.zeros((rows, cols), dtype=real)
    energy = np.empty((rows, cols), dtype=real)
    cross = np.empty((rows, cols), dtype=real)
    for o in range(NORIENT):
        # EO{s,o} = ifft2(imagefft .* filter), all scales.
        np.multiply(spectrum, filters[o], out=product)
        for s in range(NSCALE):
            cv2.idft(product_cv[s], dst=eo_cv[s], flags=flags)
        np.abs(eo, out=amplitude)
        an_all += amplitude.sum(axis=0)
        threshold = _noise_threshold(amplitude[0], noise_factor[o])
        # With S = sum_s EO_s: sum_s (E MeanE + O MeanO) = |S|^2 / XEnergy and
        # |E MeanO - O MeanE| = |Im(EO_s conj(S))| / XEnergy.
        np.sum(eo, axis=0, out=total)
        np.multiply(eo, np.conj(total), out=product)
        np.abs(product.imag, out=amplitude)
        np.sum(amplitude, axis=0, out=cross)
        x_energy = np.abs(total)
        np.multiply(x_energy, x_energy, out=energy)
        energy -= cross
        x_energy += real(EPSILON)
        energy /= x_energy
        # max(Energy - T, 0), accumulated over orientations.
        energy -= real(threshold)
        np.maximum(energy, 0, out=energy)
        energy_all += energy

    energy64 = energy_all.astype(np.float64)
    an64 = an_all.astype(np.float64)
    return np.divide(energy64, an64, out=np.zeros_like(energy64), where=an64 > 0)


def _noise_threshold(amplitude: np.ndarray, noise_factor: float) -> float:
    """FeatureSIM.m's noise threshold T from the smallest-scale amplitudes of one orientation.

    ``median(|EO|^2)`` (the mean of the two middle values for an even count)
    gives the mean noise power under a Rayleigh model, then
    ``T = (mu + k sigma) / 1.7``.
    """
    flat = amplitude.reshape(-1)
    middle = flat.size // 2
    part = np.partition(flat, middle)
    upper = float(part[middle]) ** 2
    if flat.size % 2:
        median_e2n = upper
    else:
        median_e2n = (float(part[:middle].max()) ** 2 + upper) / 2
    mean_e2n = -median_e2n / math.log(0.5)
    tau = math.sqrt(mean_e2n * noise_factor / 2)
    noise_mean = tau * math.sqrt(math.pi / 2)
    noise_sigma = math.sqrt((2 - math.pi / 2) * tau * tau)
    return (noise_mean + K * noise_sigma) / 1.7
