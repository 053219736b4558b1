#!/usr/bin/env bash
# cxr-preprocess --obfuscate 2: train and val shards hold two noisy copies of each image as
# uint16 and no clean pixels (read with h5py), the test split stays clean, the manifest records
# the noise model, every export draws fresh noise, and supervised training on it is refused.
source "$(dirname "$0")/common.sh"
py=$(h5py_python)
[ -n "$py" ] || skip "no Python with h5py (install python3-h5py)"
train="$CXR_BIN/app/cxr-train"
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/clean" --size 32 2>/dev/null || fail "clean preprocess"
for k in 1 2; do
  mpi 2 "$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/export$k" --size 32 --obfuscate 2 noise.sigma=0.1 2>"$CXR_TMP/log$k" \
    || { cat "$CXR_TMP/log$k"; fail "obfuscated export $k"; }
done
"$py" - "$CXR_TMP" <<'PY'
import glob, json, sys
import h5py, numpy as np
t = sys.argv[1]
clean = {}
for f in glob.glob(t + "/clean/*/*.h5"):
    with h5py.File(f, "r") as h:
        for name, img in zip(h["image_index"].asstr()[:], h["images"][:]):
            clean[name] = img.astype(np.float64) / 255
m = json.load(open(t + "/export1/manifest.json"))
o = m["obfuscation"]
assert o["copies"] == 2 and o["noise"]["mean"] == 0.1 and o["noise"]["sigma"] == 0.1 and o["obfuscated_splits"] == ["train", "val"], o
exported = {}
for k in (1, 2):
    for f in sorted(glob.glob(f"{t}/export{k}/*/*.h5")):
        with h5py.File(f, "r") as h:
            split = h.attrs["split"].decode() if isinstance(h.attrs["split"], bytes) else h.attrs["split"]
            datasets = set(h.keys())
            if split == "test":
                assert "images" in datasets and "noisy" not in datasets, (f, datasets)
                continue
            # No clean pixels: no images dataset, nothing 8-bit of image shape anywhere in the file.
            assert "images" not in datasets and "noisy" in datasets, (f, datasets)
            for d in datasets:
                assert not (h[d].dtype == np.uint8 and h[d].ndim >= 3), (f, d)
            noisy = h["noisy"]
            assert noisy.dtype == np.uint16 and noisy.shape[1:] == (2, 32, 32) and h.attrs["copies"] == 2, (noisy.dtype, noisy.shape)
            for name, copies in zip(h["image_index"].asstr()[:], noisy[:]):
                exported[(k, name)] = copies.astype(np.float64) / 65535
names = sorted({n for _, n in exported})
assert names, "no obfuscated images"
diffs, same_as_clean, copy_corr, between_exports = [], 0, [], []
for name in names:
    x, a, b = clean[name], exported[(1, name)], exported[(2, name)]
    inside = (a[0] > 0) & (a[0] < 1) & (a[1] > 0) & (a[1] < 1)
    n0, n1 = (a[0] - x)[inside], (a[1] - x)[inside]
    diffs.append(n0.mean())
    copy_corr.append(np.corrcoef(n0, n1)[0, 1])
    same_as_clean += int((np.abs(a - x) < 0.5 / 255).sum())  # pixels an 8-bit reader would take for the clean one
    between_exports.append(np.abs(a - b).mean())
total = len(names) * 2 * 32 * 32
print(f"{len(names)} obfuscated images: noise mean {np.mean(diffs):.3f} (0.1 asked), copies' noise correlation "
      f"{np.mean(copy_corr):+.3f}, pixels within half a grey level of the clean one {same_as_clean / total:.4f}, "
      f"mean |export 1 - export 2| {np.mean(between_exports):.3f}")
assert abs(np.mean(diffs) - 0.1) < 0.02, "the noise does not have the stated mean"
assert abs(np.mean(copy_corr)) < 0.1, "the two copies share their noise"
assert same_as_clean / total < 0.05, "too many clean pixels in the export"
assert np.mean(between_exports) > 0.05, "two exports drew the same noise: the key is not fresh"
PY
[ $? -eq 0 ] || fail "the export as h5py reads it"
# Supervised training on the export is refused, naming it; so is an export that could leave [0, 1].
expect_exit 2 "export1 is an obfuscated export \(2 noisy copies per image, no clean pixels\): supervised training needs clean targets" \
  "$train" --data "$CXR_TMP/export1" model.base_width=4 model.depth=2 train.device=cpu --epochs 1 --run-dir "$CXR_TMP/run"
"$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/one-copy" --size 32 --obfuscate 1 2>/dev/null || fail "a one-copy export"
expect_exit 2 "one-copy holds one noisy copy per image; Noise2Noise needs two" \
  "$train" --data "$CXR_TMP/one-copy" model.base_width=4 model.depth=2 train.device=cpu --epochs 1 train.target=noisy train.loss=mse \
  --run-dir "$CXR_TMP/run1"
# Noise2Noise with another noise than the export's would be corrected for the wrong bias: refused.
expect_exit 2 "export1 was obfuscated with noise mean 0.1 sigma 0.1, the run's noise is mean 0.1 sigma 0.2: the bias correction would be wrong" \
  "$train" --data "$CXR_TMP/export1" model.base_width=4 model.depth=2 train.device=cpu --epochs 1 train.target=noisy train.loss=mse \
  noise.sigma=0.2 --run-dir "$CXR_TMP/run2"
expect_exit 2 "noise.clip must be true" "$preprocess" --input "$CXR_FIXTURE" --output "$CXR_TMP/unclipped" --size 32 --obfuscate 1 noise.clip=false
# Noise2Noise trains on the export without a clean image (input one stored copy, target
# the mean of the others; validation against them), and cxr-eval on the clean test split reports the
# model corrected for the noise's bias next to the uncorrected output.
tiny=(model.base_width=4 model.depth=2 train.device=cpu train.threads=1 seed=3)
expect_exit 2 "train.target=noisy learns the mean of the noisy targets only with train.loss=mse" \
  "$train" --data "$CXR_TMP/export1" "${tiny[@]}" --epochs 1 train.target=noisy --run-dir "$CXR_TMP/n2n-l1"
"$train" --data "$CXR_TMP/export1" "${tiny[@]}" model.base_width=8 --epochs 8 train.lr=0.003 train.target=noisy train.loss=mse \
  --run-dir "$CXR_TMP/n2n" 2>"$CXR_TMP/log" \
  || { cat "$CXR_TMP/log"; fail "Noise2Noise training on the export"; }
grep -q "val L1" "$CXR_TMP/log" || fail "Noise2Noise training did not validate"
"$CXR_BIN/app/cxr-eval" --run "$CXR_TMP/n2n" --data "$CXR_TMP/export1" --methods model,noisy --sigma 0.1 2>"$CXR_TMP/log" \
  || { cat "$CXR_TMP/log"; fail "cxr-eval of the Noise2Noise run"; }
"$py" - "$CXR_TMP/n2n/eval/rank-00000.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
psnr = {m: [float(r["psnr"]) for r in rows if r["method"] == m] for m in ("model", "model_uncorrected", "noisy")}
assert all(psnr.values()) and len(set(map(len, psnr.values()))) == 1, {m: len(v) for m, v in psnr.items()}
mean = {m: sum(v) / len(v) for m, v in psnr.items()}
# The uncorrected output carries the noise's bias (its mean, the clamp); the correction removes it.
assert mean["model"] > mean["model_uncorrected"] + 1, f"the bias correction does not help: {mean}"
print("Noise2Noise on the export, test PSNR: " + ", ".join(f"{m} {v:.2f} dB" for m, v in mean.items()))
PY
[ $? -eq 0 ] || fail "the Noise2Noise evaluation rows"
echo "obfuscated export: checked"
