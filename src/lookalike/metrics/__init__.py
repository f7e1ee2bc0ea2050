"""Full-reference and histogram metrics: pure functions over arrays, also reachable by name.

Images come first and positional, options are keyword-only. Integer images
infer ``data_range`` from their dtype; float images must pass it. Every metric
is registered with whether higher means more similar (:func:`get_metric`).

=====================  =====================================  ==============
name                   reference reproduced                   higher better
=====================  =====================================  ==============
mse, rmse              MATLAB ``immse``                       no
psnr                   MATLAB ``psnr`` / scikit-image          yes
ssim                   Wang's ``ssim_index.m`` (+ conventions)  yes
ms_ssim                Wang's ``msssim.m``                     yes
fsim, fsimc            Zhang's ``FeatureSIM.m``                yes
gmsd                   Xue's ``GMSD.m``                        no
hist_*                 OpenCV ``compareHist``, EMD             varies
=====================  =====================================  ==============
"""

from lookalike.metrics._fsim import fsim, fsimc
from lookalike.metrics._gmsd import gmsd
from lookalike.metrics._histogram import (
    hist_bhattacharyya,
    hist_chisq,
    hist_correlation,
    hist_emd,
    hist_intersection,
    histogram,
)
from lookalike.metrics._mse import mse, psnr, rmse
from lookalike.metrics._msssim import ms_ssim
from lookalike.metrics._registry import MetricInfo, get_metric, metric_names
from lookalike.metrics._ssim import SSIM_CONVENTIONS, ssim
from lookalike.metrics._util import check_pair, describe_shape, infer_data_range

__all__ = [
    "SSIM_CONVENTIONS",
    "MetricInfo",
    "check_pair",
    "describe_shape",
    "fsim",
    "fsimc",
    "get_metric",
    "gmsd",
    "hist_bhattacharyya",
    "hist_chisq",
    "hist_correlation",
    "hist_emd",
    "hist_intersection",
    "histogram",
    "infer_data_range",
    "metric_names",
    "ms_ssim",
    "mse",
    "psnr",
    "rmse",
    "ssim",
]
