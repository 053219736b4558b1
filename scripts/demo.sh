#!/usr/bin/env bash
# The main job on the built-in default, end to end on this machine's CPUs:
#   1. cxr-synth       a synthetic ChestX-ray14 root (400 chest phantoms, 256x256)
#   2. cxr-preprocess  HDF5 shards at 64x64, 2 MPI ranks; and an obfuscated export (2 noisy
#                      copies of each training image, no clean pixel: docs/PRIVACY.md)
#   3. cxr-train       a small U-Net learns to remove the obfuscation noise, 2 MPI ranks; and
#                      the same U-Net by Noise2Noise on the export (what an outsider can train)
#   4. cxr-eval        PSNR / SSIM on the test split for both models, the noisy input and
#                      filters, and the re-identification attack the privacy report measures
#   5. cxr-reduce      summary tables (quality, privacy, training) and plots
# Builds first (installing missing packages). Output goes to out/demo/ (or OUT_DIR); running it
# again reuses what is done (the dataset) and resumes or skips training that is complete.
#   scripts/demo.sh [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/out/demo}"
build="${CXR_BUILD_DIR:-$root/build}"
"$root/scripts/build.sh" "$build"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
ranks="${CXR_DEMO_RANKS:-2}"
mpirun=(mpirun --oversubscribe -n "$ranks")
config="$root/configs/demo.yaml"

echo "== 1/5 cxr-synth: a synthetic ChestX-ray14 root (400 images, 256x256) in $out/nih"
if [ ! -f "$out/nih/test_list.txt" ]; then
  "$build/app/cxr-synth" --output "$out/nih" --count 400 --size 256 --seed 0
else
  echo "   (already there)"
fi

echo "== 2/5 cxr-preprocess with $ranks ranks: HDF5 shards at 64x64 in $out/dataset, an obfuscated export in $out/export"
"${mpirun[@]}" "$build/preprocess/cxr-preprocess" --input "$out/nih" --output "$out/dataset" --config "$config"
"${mpirun[@]}" "$build/preprocess/cxr-preprocess" --input "$out/nih" --output "$out/export" --config "$config" --obfuscate 2

echo "== 3/5 cxr-train with $ranks ranks: a small U-Net, noise mean 0.1 sigma 0.1, run dir $out/run;"
echo "   the same by Noise2Noise on the export (no clean image), run dir $out/run-n2n"
"${mpirun[@]}" "$build/app/cxr-train" --config "$config" --data "$out/dataset" --run-dir "$out/run"
"${mpirun[@]}" "$build/app/cxr-train" --config "$config" --data "$out/export" --run-dir "$out/run-n2n" train.target=noisy train.loss=mse

echo "== 4/5 cxr-eval with $ranks ranks: the clean test split at sigma 0.1 and 0.2, both models"
"${mpirun[@]}" "$build/app/cxr-eval" --run "$out/run" --sigma 0.1,0.2
"${mpirun[@]}" "$build/app/cxr-eval" --run "$out/run-n2n" --data "$out/dataset" --sigma 0.1,0.2 --methods model,noisy

echo "== 5/5 cxr-reduce: tables and plots in $out/summary"
"$build/app/cxr-reduce" "$out/run" "$out/run-n2n" --out "$out/summary"

echo
echo "== what it made"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
m = json.load(open(f"{out}/dataset/manifest.json"))
print(f"dataset  {out}/dataset: " + ", ".join(f"{k} {v['images']} images / {v['patients']} patients"
                                          for k, v in sorted(m["splits"].items())))
events = [json.loads(l) for l in open(f"{out}/run/logs/rank-00000.jsonl") if '"event"' in l]
base = [e for e in events if e["event"] == "baseline"]
epochs = [e for e in events if e["event"] == "epoch"]
print(f"training {out}/run: {len(epochs)} epochs logged")
print(f"{'epoch':>5} {'train L1':>10} {'val L1':>10}")
def loss(v):  # null: no finite step, or no validation that epoch
    return f"{v:>10.5f}" if v is not None else f"{'-':>10}"
for e in epochs:
    print(f"{e['epoch']:>5} {loss(e['train_loss'])} {loss(e['val_loss'])}")
vals = [e["val_loss"] for e in epochs if e["val_loss"] is not None]
if base and vals:
    b, v = base[-1]["noisy_val_loss"], min(vals)
    print(f"validation L1: noisy input {b:.5f} -> best denoised {v:.5f} ({b / v:.1f}x lower)")
print(f"checkpoints: {out}/run/checkpoints (inspect with build/app/cxr-inspect {out}/run)")
PY
echo
echo "== test-set quality (from $out/summary/summary.md)"
sed -n '/^| run | sigma/,/^$/p' "$out/summary/summary.md"
echo
echo "== privacy (from $out/summary/summary.md; docs/PRIVACY.md reads it)"
sed -n '/^## Privacy/,/^## Training/p' "$out/summary/summary.md" | sed '1,2d;$d'
plots=$(cd "$out/summary" && ls psnr_by_sigma.png privacy.png loss_curves.png 2>/dev/null | sed "s|^|$out/summary/|" | xargs)
echo "plots:       ${plots:-none (gnuplot is missing: see $out/summary/gnuplot.log)}"
echo "image grids: $out/run/samples/sigma-0.1/ (clean | noisy | denoised | error x4)"
echo "denoise your own PNGs: build/app/cxr-denoise --checkpoint $out/run --input IMAGE.png --output OUT_DIR [--sigma 0.1]"
