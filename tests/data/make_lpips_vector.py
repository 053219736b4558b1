#!/usr/bin/env python3
"""Writes lpips_vector.txt: LPIPS distances computed with the reference formula (the lpips
package's LPIPS(net="alex", version="0.1") forward with normalize=True, written out here in
PyTorch) for image pairs and backbone/lin weights that are both given by formulas, so that
tests/unit/test_metrics.cpp can rebuild exactly the same inputs without any weight file.

    pip install torch && python3 tests/data/make_lpips_vector.py
"""
import math
from pathlib import Path

import torch
import torch.nn.functional as F

CONVS = [(0, 64, 3, 11, 4, 2), (3, 192, 64, 5, 1, 2), (6, 384, 192, 3, 1, 1), (8, 256, 384, 3, 1, 1), (10, 256, 256, 3, 1, 1)]


def formula(shape, k, kind):
    i = torch.arange(math.prod(shape), dtype=torch.float64)
    if kind == "weight":
        v = 0.05 * torch.sin(0.7 * i + k)
    elif kind == "bias":
        v = 0.01 * torch.cos(i + k)
    else:  # lin: non-negative, as trained LPIPS weights are
        v = 0.1 * (1 + torch.cos(0.3 * i + k)) / 2
    return v.to(torch.float32).view(shape)


def image(h, w, which):
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    a = 0.5 + 0.4 * torch.sin(x / 5) * torch.cos(y / 7)
    if which == 1:
        a = (a + 0.1 * torch.sin(x * y / 11)).clamp(0, 1)
    return a.to(torch.float32).view(1, 1, h, w)


def lpips(a, b):
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(x):
        h = ((2 * x - 1).repeat(1, 3, 1, 1) - shift) / scale
        taps = []
        for k, (idx, out, cin, ker, stride, pad) in enumerate(CONVS):
            if k in (1, 2):
                h = F.max_pool2d(h, 3, 2)
            h = F.relu(F.conv2d(h, formula((out, cin, ker, ker), k, "weight"), formula((out,), k, "bias"), stride, pad))
            taps.append(h)
        return taps

    def unit(f):
        return f / (torch.sqrt(torch.sum(f ** 2, dim=1, keepdim=True)) + 1e-10)

    total = 0
    for k, (fa, fb) in enumerate(zip(feats(a), feats(b))):
        d = (unit(fa) - unit(fb)) ** 2
        total = total + F.conv2d(d, formula((1, CONVS[k][1], 1, 1), k, "lin")).mean([2, 3], keepdim=True)
    return total.item()


lines = [f"# torch {torch.__version__}: h w lpips(image 0, image 1)"]
for h, w in [(64, 64), (72, 80)]:
    lines.append(f"{h} {w} {lpips(image(h, w, 0), image(h, w, 1)):.10g}")
Path(__file__).with_name("lpips_vector.txt").write_text("\n".join(lines) + "\n")
