#!/usr/bin/env python3
"""Checks a cxr-preprocess dataset against its input root:

- every image of the split lists is accounted for exactly once: written to one shard or skipped
  with a reason;
- no patient has images in two splits;
- with h5py available: every shard opens with h5py as is, its layout is the documented one, its
  images and names agree with the manifest's counts, and the sha256 in the manifest matches.

    check_dataset.py DATASET_DIR NIH_ROOT [--expect-skipped N] [--lists TRAIN_VAL TEST]
"""
import argparse
import hashlib
import json
import sys
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("dataset")
p.add_argument("root")
p.add_argument("--expect-skipped", type=int)
p.add_argument("--lists", nargs=2)
a = p.parse_args()
ds = Path(a.dataset)
m = json.loads((ds / "manifest.json").read_text())
lists = a.lists or [Path(a.root) / "train_val_list.txt", Path(a.root) / "test_list.txt"]
listed = [n.strip() for f in lists for n in Path(f).read_text().splitlines() if n.strip()]

errors = []
try:
    import h5py  # noqa: F401
    have_h5py = True
except ImportError:
    have_h5py = False
    print("note: h5py not importable here; shard contents checked through the manifest only")

written = {}
patients_of = {}
for split, s in m["splits"].items():
    for sh in s["shards"]:
        path = ds / sh["file"]
        if hashlib.sha256(path.read_bytes()).hexdigest() != sh["sha256"]:
            errors.append(f"{sh['file']}: sha256 differs from the manifest")
        if not have_h5py:
            continue
        with h5py.File(path, "r") as f:
            imgs = f["images"]
            if imgs.dtype != "uint8" or imgs.ndim != 3 or imgs.shape[0] != sh["count"]:
                errors.append(f"{sh['file']}: images {imgs.dtype} {imgs.shape}, manifest count {sh['count']}")
            if imgs.shape[0] and imgs.chunks != (1,) + imgs.shape[1:]:
                errors.append(f"{sh['file']}: chunks {imgs.chunks}, expected one image per chunk")
            if f.attrs["split"] != split:
                errors.append(f"{sh['file']}: split attribute {f.attrs['split']!r}")
            names = [n.decode() for n in f["image_index"][:]]
            for key in ("patient_id", "labels", "view", "sex", "age", "follow_up"):
                if len(f[key]) != len(names):
                    errors.append(f"{sh['file']}: {key} has {len(f[key])} entries for {len(names)} images")
            if list(f["labels"].attrs["label_names"]) != [
                "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
                "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"]:
                errors.append(f"{sh['file']}: label_names attribute is wrong")
            for n, pid in zip(names, f["patient_id"][:]):
                if n in written:
                    errors.append(f"{n} written twice ({written[n]} and {split})")
                written[n] = split
                patients_of.setdefault(int(pid), set()).add(split)

skipped = {}
for k in m["skipped"]:
    if k["image"] in skipped:
        errors.append(f"{k['image']} skipped twice")
    skipped[k["image"]] = k["reason"]
    if not k["reason"]:
        errors.append(f"{k['image']} skipped without a reason")

if have_h5py:
    for n in listed:
        if (n in written) == (n in skipped):
            errors.append(f"{n}: {'written and skipped' if n in written else 'neither written nor skipped'}")
    for pid, splits in patients_of.items():
        if len(splits) > 1 and m["config"]["split"]["mode"] == "patient":
            errors.append(f"patient {pid} is in {sorted(splits)}")
    if len(written) != m["totals"]["written"]:
        errors.append(f"manifest says {m['totals']['written']} written, shards hold {len(written)}")
if m["totals"]["written"] + m["totals"]["skipped"] + m["totals"]["excluded_by_limit"] != len(listed):
    errors.append(f"written {m['totals']['written']} + skipped {m['totals']['skipped']} + limit "
                  f"{m['totals']['excluded_by_limit']} != listed {len(listed)}")
if a.expect_skipped is not None and len(skipped) != a.expect_skipped:
    errors.append(f"{len(skipped)} skipped, expected {a.expect_skipped}: {skipped}")

for e in errors:
    print("ERROR:", e, file=sys.stderr)
print(f"checked {ds}: {m['totals']['written']} written, {len(skipped)} skipped, {len(errors)} errors")
sys.exit(1 if errors else 0)
