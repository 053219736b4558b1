#!/usr/bin/env bash
# Every tool: --help and --version exit 0, an unknown flag exits 2.
source "$(dirname "$0")/common.sh"
for tool in "$preprocess" "$synth"; do
  "$tool" --help | grep -q "Usage" || fail "$tool --help"
  "$tool" --version | grep -qE "^cxr-denoise [0-9]+\.[0-9]+\.[0-9]+" || fail "$tool --version"
  expect_exit 2 "not expected|--bogus" "$tool" --input x --output "$CXR_TMP/o" --bogus
done
expect_exit 2 "--output is required" "$synth" --count 3
# cxr-scale: the model's projection from stated inputs; the bus bandwidths are required.
scale="$CXR_BIN/app/cxr-scale"
"$scale" --help | grep -q "Usage" || fail "cxr-scale --help"
expect_exit 2 "--intra-busbw is required" "$scale" --forward-ms 8 --backward-ms 16 --inter-busbw 20
"$scale" --forward-ms 8 --backward-ms 16 --intra-busbw 200 --inter-busbw 22 --gpus-per-node 4 --max-ranks 8 >"$CXR_TMP/scale.md" \
  || fail "cxr-scale"
grep -q "^| 8 | 2 | 16 |" "$CXR_TMP/scale.md" || { cat "$CXR_TMP/scale.md"; fail "cxr-scale: no row for 8 ranks on 2 nodes"; }
"$scale" --forward-ms 8 --backward-ms 16 --intra-busbw 200 --inter-busbw 22 --global-batch 4 | sed -n '/^Strong/,$p' >"$CXR_TMP/scale.md" \
  || fail "cxr-scale strong"
grep -q "^| 4 | 1 | 1 |" "$CXR_TMP/scale.md" && ! grep -q "^| 8 | " "$CXR_TMP/scale.md" \
  || { cat "$CXR_TMP/scale.md"; fail "cxr-scale --global-batch 4: expected rows up to 4 ranks of 1 image"; }

# cxr-train and cxr-inspect (LibTorch builds).
train="$CXR_BIN/app/cxr-train"
if [ -x "$train" ]; then
  for tool in "$train" "$CXR_BIN/app/cxr-inspect" "$CXR_BIN/app/cxr-eval" "$CXR_BIN/app/cxr-reduce" "$CXR_BIN/app/cxr-denoise"; do
    "$tool" --help | grep -q "Usage" || fail "$tool --help"
    "$tool" --version | grep -qE "^cxr-denoise [0-9.]+ \(LibTorch" || fail "$tool --version"
  done
  expect_exit 2 "not expected|--bogus" "$train" --bogus
  # libstdc++ is searched before LibTorch, whose wheels may export their own std::filesystem
  # (cmake/CxrDependencies.cmake says why).
  for tool in "$train" "$CXR_BIN/tests/cxr-torch-tests"; do
    needed=$(readelf -d "$tool" | grep NEEDED)
    stdcxx=$(grep -n "libstdc++" <<< "$needed" | cut -d: -f1)
    torch=$(grep -n -m1 "libtorch\|libc10" <<< "$needed" | cut -d: -f1)
    [ -n "$stdcxx" ] && [ -n "$torch" ] && [ "$stdcxx" -lt "$torch" ] ||
      fail "$tool loads LibTorch before libstdc++ (NEEDED entries: $(tr -s ' \n' ' ' <<< "$needed"))"
  done
  # Every shipped config loads against the schema.
  for cfg in "$(dirname "$0")"/../../configs/*.yaml; do
    "$train" --config "$cfg" --print-config > "$CXR_TMP/effective.yaml" 2>"$CXR_TMP/err.txt" || { cat "$CXR_TMP/err.txt"; fail "$cfg does not load"; }
    # ...and the effective config it prints loads back.
    "$train" --config "$CXR_TMP/effective.yaml" --print-config > /dev/null || fail "$cfg: the printed config does not load back"
  done
fi
