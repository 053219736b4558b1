#!/usr/bin/env python3
"""The reference study's training step in Python PyTorch, timed the way bench/train.sh and
bench/gpu.sh time cxr-train: the same network (U-Net or U-Net++ at base width 64, batch norm, as the
reference built them), Adam 1e-3, L1 loss, the same batch and image size, on the same machine.

Data comes from memory (random images), so this times compute alone: the reference's own loader
(PIL decode + resize per image per epoch) would only make it slower.

On a GPU, two flavours: "reference" is the study's loop as published (fp32 or its fp16 autocast +
GradScaler, NCHW, cuDNN defaults); "tuned" adds what a careful Python user would (cuDNN autotuning,
channels-last), the best Python alternative. Each step reads the loss (loss.item()), as the
study's loop does for its running loss; timings synchronise the GPU before reading the clock.

    reference_train.py --model unet --batch 2 --size 256 --steps 3 [--threads 2] [--json FILE]
    reference_train.py --device cuda --model unet,unetpp --amp off,fp16,bf16 --batch 16 \
                       --flavour reference,tuned --steps 30 --warmup 8 --json FILE
Lists (comma-separated) run every combination in one process; --json then writes a list.
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


def time_config(model, amp, batch, flavour, a):
    """Images/s of one configuration: `warmup` untimed steps, then `steps` timed ones."""
    cuda = a.device == "cuda"
    torch.backends.cudnn.benchmark = cuda and flavour == "tuned"
    torch.manual_seed(0)
    net = (UNet() if model == "unet" else UNetPlusPlus()).to(a.device)
    fmt = torch.channels_last if cuda and flavour == "tuned" else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(amp)
    clean = torch.rand(batch, 1, a.size, a.size, device=a.device)
    noisy = (clean + 0.1 + 0.1 * torch.randn_like(clean)).clamp(0, 1).contiguous(memory_format=fmt)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=a.device, dtype=dtype, enabled=dtype is not None):
            loss = F.l1_loss(net(noisy).float(), clean)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss.item()

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    sync()
    t = (time.perf_counter() - t0) / a.steps
    row = {"torch": torch.__version__, "device": a.device, "model": model, "amp": amp, "batch": batch, "size": a.size,
           "flavour": flavour, "params": sum(p.numel() for p in net.parameters()), "threads": torch.get_num_threads(),
           "steps": a.steps, "step_s": t, "images_per_s": batch / t,
           "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0}
    print(f"# Python PyTorch {torch.__version__} on {a.device}, {model} ({row['params'] / 1e6:.2f} M), {flavour}, amp {amp}, "
          f"batch {batch}, {a.size}^2: {t:.4f} s/step, {row['images_per_s']:.3f} images/s", flush=True)
    del net, opt
    if cuda:
        torch.cuda.empty_cache()
    return row


p = argparse.ArgumentParser()
p.add_argument("--model", default="unet", help="unet, unetpp or a comma-separated list")
p.add_argument("--batch", default="2", help="batch size(s), comma-separated")
p.add_argument("--amp", default="off", help="off, fp16, bf16 (fp16 needs CUDA), comma-separated")
p.add_argument("--flavour", default="reference", help="reference and/or tuned (GPU only), comma-separated")
p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
p.add_argument("--size", type=int, default=256)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--threads", type=int, default=0)
p.add_argument("--json")
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
rows = [time_config(m, amp, int(b), fl, a) for m in a.model.split(",") for amp in a.amp.split(",")
        for b in a.batch.split(",") for fl in a.flavour.split(",")]
if a.json:
    json.dump(rows[0] if len(rows) == 1 else rows, open(a.json, "w"), indent=2)
