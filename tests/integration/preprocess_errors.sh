#!/usr/bin/env bash
# Bad input: a clear message naming the file, line or key, exit 2, nothing written. Broken PNGs
# are skipped with a per-file reason, never a crash.
source "$(dirname "$0")/common.sh"
root="$CXR_TMP/root"
cp -r "$CXR_FIXTURE" "$root"
out="$CXR_TMP/out"

expect_exit 2 "dataset root $CXR_TMP/nowhere does not exist" "$preprocess" --input "$CXR_TMP/nowhere" --output "$out"
# With 2 ranks the same error ends every rank cleanly (exit 2, no MPI_Abort).
expect_exit 2 "does not exist" mpi 2 "$preprocess" --input "$CXR_TMP/nowhere" --output "$out"
grep -q "MPI_ABORT" "$CXR_TMP/err.txt" && fail "an input error aborted the MPI job"

mv "$root/test_list.txt" "$root/t.txt"
expect_exit 2 "missing the split list in $root \(looked for test_list.txt\)" "$preprocess" --input "$root" --output "$out"
mv "$root/t.txt" "$root/test_list.txt"

cp "$root/Data_Entry_2017.csv" "$CXR_TMP/good.csv"
sed -i '4s/,PA,/,PA,7,/; 4s/,AP,/,AP,7,/' "$root/Data_Entry_2017.csv"
expect_exit 2 "Data_Entry_2017.csv:4: expected 11 fields, found 12" "$preprocess" --input "$root" --output "$out"
cp "$CXR_TMP/good.csv" "$root/Data_Entry_2017.csv"
sed -n 3p "$CXR_TMP/good.csv" >> "$root/Data_Entry_2017.csv"
expect_exit 2 "Data_Entry_2017.csv:102: duplicate image '.*' \(first at line 3\)" "$preprocess" --input "$root" --output "$out"
cp "$CXR_TMP/good.csv" "$root/Data_Entry_2017.csv"
rm "$root/Data_Entry_2017.csv"
expect_exit 2 "missing the metadata table in $root" "$preprocess" --input "$root" --output "$out"
cp "$CXR_TMP/good.csv" "$root/Data_Entry_2017.csv"

printf 'preprocess:\n  image_size: 64\n  shard_sise: 8\n' > "$CXR_TMP/bad.yaml"
expect_exit 2 "bad.yaml:3: unknown key 'preprocess.shard_sise' \(did you mean 'preprocess.shard_size'\?\)" \
  "$preprocess" --input "$root" --output "$out" --config "$CXR_TMP/bad.yaml"
expect_exit 2 "key 'preprocess.image_size': expected an integer in \[32, 1024\], got '2000'" \
  "$preprocess" --input "$root" --output "$out" --size 2000
expect_exit 2 "unknown key 'split.made'" "$preprocess" --input "$root" --output "$out" split.made=image
expect_exit 2 "The following argument was not expected: --sise|--sise" "$preprocess" --input "$root" --output "$out" --sise 3
touch "$CXR_TMP/a-file"
expect_exit 2 "cannot create output directory $CXR_TMP/a-file/sub" "$preprocess" --input "$root" --output "$CXR_TMP/a-file/sub"
[ -e "$out" ] && fail "a failed run created its output directory"

# Broken PNGs: zero bytes, truncated, not a PNG, a flipped byte (CRC). Skipped with reasons.
imgs="$root/images_001/images"
: > "$imgs/00000001_000.png"
head -c 3000 "$CXR_FIXTURE/images_001/images/00000002_000.png" > "$imgs/00000002_000.png"
echo "plain text" > "$imgs/00000003_000.png"
python3 - "$imgs/00000004_000.png" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[len(b) // 2] ^= 0xFF; open(sys.argv[1], "wb").write(b)
PY
rm "$imgs/00000005_000.png"  # listed but not on disk: reported, not fatal
mpi 2 "$preprocess" --input "$root" --output "$out" --size 32 2>"$CXR_TMP/err.txt" || { cat "$CXR_TMP/err.txt"; fail "broken PNGs made the run fail"; }
py=$(h5py_python)
"${py:-python3}" "$(dirname "$0")/check_dataset.py" "$out" "$root" --expect-skipped 5
for img in 00000001_000 00000002_000 00000003_000 00000004_000; do
  json "$out/manifest.json" "[k['reason'] for k in m['skipped'] if k['image']=='$img.png'][0]" | grep -q "cannot decode" \
    || fail "$img.png skipped without a decode reason"
done
json "$out/manifest.json" "[k['reason'] for k in m['skipped'] if k['image']=='00000005_000.png'][0]" | grep -q "not on disk" \
  || fail "a missing file is not reported as not on disk"
json "$out/manifest.json" "[k['reason'] for k in m['skipped'] if k['image']=='00000001_000.png'][0]" | grep -q "0 bytes" \
  || fail "the zero-byte file's reason does not say so"
