"""Phase congruency (FeatureSIM.m's phasecong2): checked against a line-by-line transcription."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lookalike.metrics._phasecong import _filter_bank, phase_congruency


def _lowpass(rows: int, cols: int, cutoff: float, order: int) -> np.ndarray:
    x, y = _grid(rows, cols)
    return np.fft.ifftshift(1.0 / (1.0 + (np.sqrt(x**2 + y**2) / cutoff) ** (2 * order)))


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    def axis(n: int) -> np.ndarray:
        if n % 2:
            return np.arange(-(n - 1) / 2, (n - 1) / 2 + 1) / (n - 1)
        return np.arange(-n / 2, n / 2) / n

    return np.meshgrid(axis(cols), axis(rows))


def phasecong2_transcribed(im: np.ndarray) -> np.ndarray:
    """FeatureSIM.m's phasecong2, statement by statement (loops kept, float64, no shortcuts)."""
    nscale, norient, min_wavelength, mult = 4, 4, 6, 2
    sigma_on_f, d_theta_on_sigma, k, epsilon = 0.55, 1.2, 2.0, 0.0001
    theta_sigma = math.pi / norient / d_theta_on_sigma
    rows, cols = im.shape
    imagefft = np.fft.fft2(im)
    x, y = _grid(rows, cols)
    radius = np.fft.ifftshift(np.sqrt(x**2 + y**2))
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    radius[0, 0] = 1
    sintheta, costheta = np.sin(theta), np.cos(theta)
    lp = _lowpass(rows, cols, 0.45, 15)
    log_gabor = []
    for s in range(nscale):
        fo = 1.0 / (min_wavelength * mult**s)
        g = np.exp(-(np.log(radius / fo) ** 2) / (2 * math.log(sigma_on_f) ** 2)) * lp
        g[0, 0] = 0
        log_gabor.append(g)
    spread = []
    for o in range(norient):
        angl = o * math.pi / norient
        ds = sintheta * math.cos(angl) - costheta * math.sin(angl)
        dc = costheta * math.cos(angl) + sintheta * math.sin(angl)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread.append(np.exp(-(dtheta**2) / (2 * theta_sigma**2)))
    energy_all = np.zeros((rows, cols))
    an_all = np.zeros((rows, cols))
    for o in range(norient):
        sum_e = np.zeros((rows, cols))
        sum_o = np.zeros((rows, cols))
        sum_an = np.zeros((rows, cols))
        energy = np.zeros((rows, cols))
        eo, ifft_filters = [], []
        for s in range(nscale):
            filt = log_gabor[s] * spread[o]
            ifft_filters.append(np.real(np.fft.ifft2(filt)) * math.sqrt(rows * cols))
            eo.append(np.fft.ifft2(imagefft * filt))
            an = np.abs(eo[s])
            sum_an += an
            sum_e += eo[s].real
            sum_o += eo[s].imag
            if s == 0:
                em_n = np.sum(filt**2)
        x_energy = np.sqrt(sum_e**2 + sum_o**2) + epsilon
        mean_e, mean_o = sum_e / x_energy, sum_o / x_energy
        for s in range(nscale):
            e, od = eo[s].real, eo[s].imag
            energy += e * mean_e + od * mean_o - np.abs(e * mean_o - od * mean_e)
        median_e2n = np.median(np.abs(eo[0]).ravel() ** 2)
        noise_power = (-median_e2n / math.log(0.5)) / em_n
        est_sum_an2 = sum(f**2 for f in ifft_filters)
        est_sum_aiaj = np.zeros((rows, cols))
        for si in range(nscale - 1):
            for sj in range(si + 1, nscale):
                est_sum_aiaj += ifft_filters[si] * ifft_filters[sj]
        est_noise_energy2 = 2 * noise_power * est_sum_an2.sum() + 4 * noise_power * est_sum_aiaj.sum()
        tau = math.sqrt(est_noise_energy2 / 2)
        t = (tau * math.sqrt(math.pi / 2) + k * math.sqrt((2 - math.pi / 2) * tau**2)) / 1.7
        energy_all += np.maximum(energy - t, 0)
        an_all += sum_an
    return energy_all / an_all


def _texture(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture with edges: blurred noise plus a bright square."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(rows, cols))
    kernel = np.ones(5) / 5
    for axis in (0, 1):
        noise = np.apply_along_axis(np.convolve, axis, noise, kernel, mode="same")
    image = 120 + 40 * noise
    image[rows // 4 : rows // 2, cols // 3 : 2 * cols // 3] += 60
    return image


@pytest.mark.parametrize("shape", [(48, 64), (47, 64), (48, 63), (37, 41)])
def test_matches_transcription_of_featuresim_phasecong2(shape: tuple[int, int]) -> None:
    # Odd sizes exercise the (n - 1) normalisation of Kovesi's frequency grid.
    image = _texture(*shape)
    expected = phasecong2_transcribed(image)
    np.testing.assert_allclose(phase_congruency(image, single=False), expected, atol=1e-10)
    # Single precision (the default, used by fsim): within 1e-5 of double.
    np.testing.assert_allclose(phase_congruency(image), expected, atol=1e-5)


def test_values_in_unit_interval_and_invariant_to_contrast() -> None:
    image = _texture(64, 64, seed=3)
    pc = phase_congruency(image, single=False)
    assert pc.min() >= 0.0
    assert pc.max() <= 1.0
    assert pc.max() > 0.3  # the square's edges are features
    # The filters have no DC term: adding a constant changes nothing.
    np.testing.assert_allclose(phase_congruency(image + 17.0, single=False), pc, atol=1e-9)
    # The noise threshold scales with the amplitude, so contrast changes PC
    # only through the fixed epsilon = 1e-4 of FeatureSIM.m's XEnergy.
    np.testing.assert_allclose(phase_congruency(3.0 * image, single=False), pc, atol=1e-4)


def test_step_edge_is_where_phase_congruency_peaks() -> None:
    image = np.zeros((64, 64))
    image[:, 32:] = 200.0
    pc = phase_congruency(image)
    column_means = pc.mean(axis=0)
    assert np.argmax(column_means) in (31, 32)


def test_flat_image_gives_zeros_not_nan() -> None:
    pc = phase_congruency(np.full((32, 40), 77.0))
    assert pc.shape == (32, 40)
    assert np.all(np.isfinite(pc))
    assert np.all(pc == 0.0)


def test_filter_bank_is_cached_read_only_and_zero_at_dc() -> None:
    filters, noise_factor = _filter_bank(40, 30, "f")
    assert filters.shape == (4, 4, 40, 30)
    assert _filter_bank(40, 30, "f")[0] is filters
    assert not filters.flags.writeable
    assert not noise_factor.flags.writeable
    assert np.all(filters[:, :, 0, 0] == 0)
    with pytest.raises(ValueError):
        filters[0, 0, 1, 1] = 1.0


def test_rejects_non_2d_or_tiny_input() -> None:
    with pytest.raises(ValueError, match="2x2"):
        phase_congruency(np.zeros((1, 10)))
    with pytest.raises(ValueError, match="2x2"):
        phase_congruency(np.zeros((8, 8, 3)))


def test_uncached_filter_bank_for_large_images_gives_the_same_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lookalike.metrics._phasecong as module

    image = _texture(40, 52, seed=7)
    cached = phase_congruency(image)
    monkeypatch.setattr(module, "CACHE_MAX_PIXELS", 0)
    info_before = module._cached_filter_bank.cache_info()
    np.testing.assert_array_equal(phase_congruency(image), cached)
    assert module._cached_filter_bank.cache_info() == info_before
