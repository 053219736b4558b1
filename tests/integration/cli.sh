#!/usr/bin/env bash
# Every tool: --help and --version exit 0, an unknown flag exits 2.
source "$(dirname "$0")/common.sh"
for tool in "$preprocess" "$synth"; do
  "$tool" --help | grep -q "Usage" || fail "$tool --help"
  "$tool" --version | grep -qE "^cxr-denoise [0-9]+\.[0-9]+\.[0-9]+" || fail "$tool --version"
  expect_exit 2 "not expected|--bogus" "$tool" --input x --output "$CXR_TMP/o" --bogus
done
expect_exit 2 "--output is required" "$synth" --count 3
