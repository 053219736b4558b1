#!/usr/bin/env bash
# cxr-denoise on real PNGs (a gray and an RGBA one from the NIH sample, 1024x1024): outputs of the
# input's size in both modes; with --sigma the noisy image is written too; a broken file in a
# directory is reported by name while the others are still denoised.
source "$(dirname "$0")/train_common.sh"
denoise="$CXR_BIN/app/cxr-denoise"
sample="$CXR_SHARED/nih-sample/images_001/images"
[ -d "$sample" ] || skip "$sample not found (the real NIH sample lives in ../shared/data)"
"$train" "${tiny[@]}" --epochs 1 --batch-size 4 --norm group --run-dir "$CXR_TMP/run" 2>/dev/null || fail "training"
mkdir -p "$CXR_TMP/in"
gray=00001511_000.png
rgba=$(python3 - "$sample" <<'PY'
import glob, sys
print(next(f.split("/")[-1] for f in sorted(glob.glob(sys.argv[1] + "/*.png")) if open(f, "rb").read(26)[25] == 6))
PY
)
cp "$sample/$gray" "$sample/$rgba" "$CXR_TMP/in/"
size() { python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(*struct.unpack('>II', d[16:24]))" "$1"; }
for mode in resize full; do
  "$denoise" --checkpoint "$CXR_TMP/run" --input "$CXR_TMP/in" --output "$CXR_TMP/out-$mode" --sigma 0.1 --mode $mode \
    >"$CXR_TMP/stdout" 2>"$CXR_TMP/log" || { cat "$CXR_TMP/log"; fail "denoise, mode $mode"; }
  for f in $gray $rgba; do
    [ "$(size "$CXR_TMP/out-$mode/$f")" == "$(size "$sample/$f")" ] || fail "$mode: $f changed size"
    [ -f "$CXR_TMP/out-$mode/${f%.png}.noisy.png" ] || fail "$mode: no noisy image for $f"
  done
  grep -q "$rgba: PSNR noisy" "$CXR_TMP/stdout" || fail "no PSNR line for the RGBA file"
done
# A broken file among good ones: named, exit 2, the good one still written.
head -c 500 "$sample/$gray" > "$CXR_TMP/in/broken.png"
expect_exit 2 "broken.png: cannot decode" "$denoise" --checkpoint "$CXR_TMP/run" --input "$CXR_TMP/in" --output "$CXR_TMP/out-broken"
[ -f "$CXR_TMP/out-broken/$rgba" ] || fail "a broken file stopped the others"
expect_exit 2 "input $CXR_TMP/nothing does not exist" "$denoise" --checkpoint "$CXR_TMP/run" --input "$CXR_TMP/nothing" --output "$CXR_TMP/o"
expect_exit 2 "no checkpoint in|does not exist" "$denoise" --checkpoint "$CXR_TMP/in" --input "$CXR_TMP/in" --output "$CXR_TMP/o"
