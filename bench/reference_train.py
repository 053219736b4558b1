#!/usr/bin/env python3
"""The reference study's training step in Python PyTorch, timed the way bench/train.sh times
cxr-train: the same network (U-Net or U-Net++ at base width 64, batch norm, as the reference
built them), Adam 1e-3, L1 loss, the same batch and image size, on the same machine.

Data comes from memory (random images), so this times compute alone: the reference's own loader
(PIL decode + resize per image per epoch) would only make it slower.

    reference_train.py --model unet --batch 2 --size 256 --steps 3 [--threads 2] [--json FILE]
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, base=64, depth=4):
        super().__init__()
        w = [base << i for i in range(depth + 1)]
        self.down = nn.ModuleList([block(1 if i == 0 else w[i - 1], w[i]) for i in range(depth + 1)])
        self.upconv = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in reversed(range(depth))])
        self.up = nn.ModuleList([block(2 * w[i], w[i]) for i in reversed(range(depth))])
        self.head = nn.Conv2d(w[0], 1, 1)

    def forward(self, x):
        skips = []
        for i, d in enumerate(self.down):
            x = d(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for k, (uc, u) in enumerate(zip(self.upconv, self.up)):
            x = u(torch.cat([skips[-2 - k], uc(x)], 1))
        return self.head(x)


class UNetPlusPlus(nn.Module):
    def __init__(self, base=64, depth=4):
        super().__init__()
        w = [base << i for i in range(depth + 1)]
        self.depth = depth
        self.nodes = nn.ModuleDict()
        for j in range(depth + 1):
            for i in range(depth + 1 - j):
                cin = (1 if i == 0 else w[i - 1]) if j == 0 else w[i] * j + w[i + 1]
                self.nodes[f"x_{i}_{j}"] = block(cin, w[i])
        self.head = nn.Conv2d(w[0], 1, 1)

    def forward(self, inp):
        x = {}
        for i in range(self.depth + 1):
            x[i, 0] = self.nodes[f"x_{i}_0"](inp if i == 0 else F.max_pool2d(x[i - 1, 0], 2))
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                up = F.interpolate(x[i + 1, j - 1], scale_factor=2, mode="bilinear", align_corners=True)
                x[i, j] = self.nodes[f"x_{i}_{j}"](torch.cat([x[i, k] for k in range(j)] + [up], 1))
        return self.head(x[0, self.depth])


p = argparse.ArgumentParser()
p.add_argument("--model", default="unet", choices=["unet", "unetpp"])
p.add_argument("--batch", type=int, default=2)
p.add_argument("--size", type=int, default=256)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=0)
p.add_argument("--json")
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)
net = UNet() if a.model == "unet" else UNetPlusPlus()
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
clean = torch.rand(a.batch, 1, a.size, a.size)
noisy = (clean + 0.1 + 0.1 * torch.randn_like(clean)).clamp(0, 1)
times = []
for step in range(a.steps + 1):  # step 0 is the warm-up, left out of the timings
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = F.l1_loss(net(noisy), clean)
    loss.backward()
    opt.step()
    times.append(time.perf_counter() - t0)
t = sum(times[1:]) / a.steps
params = sum(p.numel() for p in net.parameters())
print(f"# Python PyTorch {torch.__version__}, {a.model} ({params / 1e6:.2f} M), batch {a.batch}, {a.size}^2, "
      f"{torch.get_num_threads()} threads: {t:.2f} s/step, {a.batch / t:.3f} images/s")
if a.json:
    json.dump({"torch": torch.__version__, "model": a.model, "params": params, "batch": a.batch, "size": a.size,
               "threads": torch.get_num_threads(), "step_s": t, "images_per_s": a.batch / t}, open(a.json, "w"), indent=2)
