#!/usr/bin/env bash
# The full real metadata table (112,120 rows, 30,805 patients, 2020 revision, gzip) with only
# the sample's 166 images on disk: parsed whole, the sample written.
source "$(dirname "$0")/common.sh"
meta="$CXR_SHARED/nih-meta/Data_Entry_2017_v2020.csv.gz"
sample="$CXR_SHARED/nih-sample"
[ -f "$meta" ] || skip "$meta not found (the real NIH metadata lives in ../shared/data)"
[ -d "$sample/images_001" ] || skip "$sample not found"
root="$CXR_TMP/root"
mkdir -p "$root"
ln -s "$sample/images_001" "$root/images_001"
ln -s "$meta" "$root/Data_Entry_2017_v2020.csv.gz"
cp "$sample/train_val_list.txt" "$sample/test_list.txt" "$root/"
"$preprocess" --input "$root" --output "$CXR_TMP/ds" --size 32 --shard-size 200 2>"$CXR_TMP/log" \
  || { cat "$CXR_TMP/log"; fail "preprocess failed with the full metadata table"; }
[ "$(json "$CXR_TMP/ds/manifest.json" "m['metadata']['rows']")" == 112120 ] || fail "rows"
[ "$(json "$CXR_TMP/ds/manifest.json" "m['metadata']['patients']")" == 30805 ] || fail "patients"
[ "$(json "$CXR_TMP/ds/manifest.json" "m['metadata']['format']")" == 2020 ] || fail "2020 header not recognised"
[ "$(json "$CXR_TMP/ds/manifest.json" "m['totals']['written']")" == 166 ] || fail "not all 166 images written"
