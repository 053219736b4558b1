#!/usr/bin/env bash
# The real 166-image NIH sample (160 gray, 6 RGBA, 1024x1024): every image written, none skipped.
source "$(dirname "$0")/common.sh"
sample="$CXR_SHARED/nih-sample"
[ -f "$sample/Data_Entry_2017.csv" ] || skip "$sample not found (the real NIH sample lives in ../shared/data)"
mpi 2 "$preprocess" --input "$sample" --output "$CXR_TMP/ds" --size 128 --shard-size 64 2>"$CXR_TMP/log" \
  || { cat "$CXR_TMP/log"; fail "preprocess failed on the real sample"; }
py=$(h5py_python)
"${py:-python3}" "$(dirname "$0")/check_dataset.py" "$CXR_TMP/ds" "$sample" --expect-skipped 0
[ "$(json "$CXR_TMP/ds/manifest.json" "m['totals']['written']")" == 166 ] || fail "not all 166 images written"
[ "$(json "$CXR_TMP/ds/manifest.json" "m['metadata']['format']")" == 2017 ] || fail "2017 header not recognised"
if [ -n "$py" ]; then
  # An RGBA file from the sample decodes to the same image as its luminance (alpha ignored):
  # compare against an independent decoder where Pillow is installed.
  "$py" - "$CXR_TMP/ds" "$sample" <<'PY'
import sys, glob, h5py, numpy as np
ds, sample = sys.argv[1:]
try:
    from PIL import Image
except ImportError:
    print("note: Pillow not installed, RGBA cross-check skipped"); sys.exit(0)
for f in glob.glob(ds + "/*/*.h5"):
    h = h5py.File(f, "r")
    for i, n in enumerate(h["image_index"][:]):
        img = Image.open(f"{sample}/images_001/images/{n.decode()}")
        if img.mode == "RGBA":
            ref = np.asarray(img.convert("L").resize((128, 128), Image.BICUBIC), dtype=int)
            d = np.abs(ref - h["images"][i].astype(int)).max()
            assert d <= 2, f"{n}: max difference {d} from Pillow"
            print(f"{n.decode()} (RGBA) matches Pillow within {d}")
PY
fi
