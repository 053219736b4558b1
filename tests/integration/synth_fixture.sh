#!/usr/bin/env bash
# Fixture: the synthetic ChestX-ray14 root the other integration tests read (100 images, 256 px).
source "$(dirname "$0")/common.sh"
rm -rf "$CXR_FIXTURE"
"$synth" --output "$CXR_FIXTURE" --count 100 --size 256 --seed 5
[ -f "$CXR_FIXTURE/Data_Entry_2017.csv" ] || fail "no CSV written"
n=$(ls "$CXR_FIXTURE"/images_001/images/*.png | wc -l)
[ "$n" -eq 100 ] || fail "$n PNGs, expected 100"
head -1 "$CXR_FIXTURE/Data_Entry_2017.csv" | grep -q ',$' || fail "CSV header lacks the 2017 release's trailing comma"
