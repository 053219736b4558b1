#!/usr/bin/env python3
"""Writes resize_golden.txt: Pillow's antialiased BICUBIC resize of a fixed pattern, the values
tests/unit/test_resize.cpp requires cxr::image::resize_bicubic to reproduce exactly.

    pip install pillow && python3 tests/data/make_resize_golden.py
"""
from pathlib import Path

from PIL import Image


def pattern(w, h):
    # The same formula as test_resize.cpp's pattern().
    return [(x * 37 + y * 91 + (x * y) % 13 * 11) % 256 for y in range(h) for x in range(w)]


CASES = [(16, 16, 4, 4), (16, 16, 5, 7), (40, 30, 10, 10), (8, 8, 12, 12), (64, 64, 16, 16), (33, 20, 7, 13)]

lines = ["# in_w in_h out_w out_h, then out_w*out_h values (Pillow %s)" % Image.__version__]
for w, h, ow, oh in CASES:
    img = Image.new("L", (w, h))
    img.putdata(pattern(w, h))
    out = img.resize((ow, oh), Image.BICUBIC)
    lines.append(f"{w} {h} {ow} {oh}")
    lines.append(" ".join(str(v) for v in (out.getpixel((i % ow, i // ow)) for i in range(ow * oh))))
Path(__file__).with_name("resize_golden.txt").write_text("\n".join(lines) + "\n")
