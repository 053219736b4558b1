#!/usr/bin/env python3
"""Writes metric_vectors.txt: image pairs and scikit-image's PSNR and SSIM for them, which
tests/unit/test_metrics.cpp must reproduce to 1e-4. Only the vectors are kept in the repository,
not a dependency on scikit-image.

    pip install scikit-image && python3 tests/data/make_metric_vectors.py
"""
from pathlib import Path

import numpy as np
import skimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

rng = np.random.default_rng(7)
lines = [f"# scikit-image {skimage.__version__}: per case 'h w', clean (h*w), output (h*w), then psnr ssim ssim_3x3"]
for h, w, sigma in [(32, 32, 0.1), (37, 29, 0.2), (24, 40, 0.05), (16, 16, 0.3)]:
    yy, xx = np.mgrid[0:h, 0:w]
    clean = 0.5 + 0.3 * np.sin(xx / 3.0) * np.cos(yy / 5.0) + 0.1 * (xx / w)
    clean = np.clip(clean, 0, 1)
    output = np.clip(clean + rng.normal(0.0, sigma, clean.shape), 0, 1)
    psnr = peak_signal_noise_ratio(clean, output, data_range=1)
    ssim = structural_similarity(clean, output, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1)
    ssim3 = structural_similarity(clean, output, win_size=3, data_range=1)
    lines += [f"{h} {w}", " ".join(f"{v:.17g}" for v in clean.ravel()), " ".join(f"{v:.17g}" for v in output.ravel()),
              f"{psnr:.17g} {ssim:.17g} {ssim3:.17g}"]
Path(__file__).with_name("metric_vectors.txt").write_text("\n".join(lines) + "\n")
