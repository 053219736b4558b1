#!/usr/bin/env bash
# Noise2Noise against supervised training on the real NIH sample (docs/PRIVACY.md): the sample
# preprocessed at 128x128 with the patient split, once clean and once as an obfuscated export
# (--obfuscate 2, noise mean 0.1, sigma 0.1: the training site never holds a clean image). A
# U-Net (base 16, depth 4, group norm) trains with the same seed, steps, batch, lr and L2 loss
# on each: supervised (clean targets) and Noise2Noise (one stored copy in, the mean of the others
# as the target).
# cxr-eval scores both on the clean test split at sigma 0.1 (and 0.2, 0.3 for the privacy
# report): Noise2Noise corrected for the noise's bias ("model") and uncorrected
# ("model_uncorrected"); cxr-reduce's privacy section (re-identification by matching) is kept
# next to the numbers.
#   bench/privacy_n2n.sh [EPOCHS [COPIES [KEY=VALUE...]]]   (defaults 40, 2; the overrides go to both
#   trainings, e.g. train.schedule=cosine; results in bench/results/privacy-n2n-nih[-TAG].json)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
epochs="${1:-40}"; copies="${2:-2}"; extra=("${@:3}")
tag=""; [ "$#" -gt 0 ] && tag="-${epochs}ep-${copies}copies$(printf -- '-%s' "${extra[@]}" | tr '=' '_' | sed 's/train\.//g')"
[ "$tag" = "-40ep-2copies-" ] && tag=""; tag="${tag%-}"
sample="$root/../shared/data/nih-sample"
[ -f "$sample/Data_Entry_2017.csv" ] || { echo "no NIH sample at $sample" >&2; exit 2; }
machine_line
echo "# $("$build/app/cxr-train" --version | head -1); NIH sample at 128x128, U-Net base 16, $epochs epochs, batch 8, mse, $copies copies ${extra[*]}"
"$build/preprocess/cxr-preprocess" --input "$sample" --output "$tmp/clean" --size 128 2>/dev/null
"$build/preprocess/cxr-preprocess" --input "$sample" --output "$tmp/export" --size 128 --obfuscate "$copies" noise.sigma=0.1 2>/dev/null
common=(model.base_width=16 model.norm=group train.loss=mse --batch-size 8 --epochs "$epochs" train.lr=0.001 seed=7
        noise.sigma=0.1 train.checkpoint_every=1000 train.log_every=1000 "${extra[@]}")
"$build/app/cxr-train" --data "$tmp/clean" "${common[@]}" --run-dir "$tmp/supervised" 2>"$tmp/sup.log"
"$build/app/cxr-train" --data "$tmp/export" "${common[@]}" train.target=noisy --run-dir "$tmp/noise2noise" 2>"$tmp/n2n.log"
for run in supervised noise2noise; do
  "$build/app/cxr-eval" --run "$tmp/$run" --data "$tmp/clean" --methods model,noisy --sigma 0.1,0.2,0.3 --checkpoint latest 2>/dev/null
done
"$build/app/cxr-reduce" "$tmp/supervised" "$tmp/noise2noise" --out "$tmp/summary" 2>/dev/null
python3 - "$tmp/summary/summary.json" "$results/privacy-n2n-nih$tag.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rows = [{"run": g["run"], "method": g["method"], "n": g["psnr"]["n"], "psnr": g["psnr"]["mean"], "ci95": g["psnr"]["ci95"],
         "ssim": g["ssim"]["mean"]} for g in s["groups"] if g["sigma"] == 0.1]
json.dump(rows, open(sys.argv[2], "w"), indent=2)
print("| run | method | test images | PSNR dB (95 % CI) | SSIM |\n|---|---|---|---|---|")
for r in rows:
    print(f"| {r['run']} | {r['method']} | {r['n']} | {r['psnr']:.2f} ± {r['ci95']:.2f} | {r['ssim']:.4f} |")
PY
sed -n '/^## Privacy/,/^## Training/p' "$tmp/summary/summary.md" | sed '$d' | tee "$results/privacy-nih$tag.md"
python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))["privacy"], open(sys.argv[2], "w"), indent=2)' \
  "$tmp/summary/summary.json" "$results/privacy-nih$tag.json"
[ -f "$tmp/summary/privacy.png" ] && cp "$tmp/summary/privacy.png" "$results/privacy-nih$tag.png"
true
