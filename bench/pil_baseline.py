#!/usr/bin/env python3
"""The reference study's per-image preprocessing in Python, timed on the same files as cxr-bench:
PIL open -> convert("L") -> resize((256, 256), BICUBIC). The reference did this for every image
in every epoch; cxr-preprocess does it once.

    pil_baseline.py NIH_ROOT [--size 256] [--repeat 3] [--json FILE]
"""
import argparse
import glob
import json
import time

from PIL import Image

p = argparse.ArgumentParser()
p.add_argument("root")
p.add_argument("--size", type=int, default=256)
p.add_argument("--repeat", type=int, default=3)
p.add_argument("--json")
a = p.parse_args()
files = sorted(glob.glob(a.root + "/**/*.png", recursive=True))
for f in files:  # warm the page cache, as cxr-bench does
    open(f, "rb").read()


def best(fn):
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


t_decode = best(lambda: [Image.open(f).convert("L").load() for f in files])
t_resize = best(lambda: [Image.open(f).convert("L").resize((a.size, a.size), Image.BICUBIC) for f in files])
n = len(files)
print(f"# Pillow {Image.__version__} (the reference's preprocessing), {n} PNGs, best of {a.repeat}")
print(f"{'pil decode':<22} {t_decode:>10.3f} {n / t_decode:>12.1f}")
print(f"{'pil decode+resize ' + str(a.size):<22} {t_resize:>10.3f} {n / t_resize:>12.1f}")
if a.json:
    json.dump({"pillow": Image.__version__, "images": n, "decode_images_per_s": n / t_decode,
               "decode_resize_images_per_s": n / t_resize}, open(a.json, "w"), indent=2)
