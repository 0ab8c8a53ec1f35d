#!/usr/bin/env bash
# Copies the parts of llama.cpp's converter that a training call needs
# (convert_hf_to_gguf.py, conversion/, gguf-py/) into build-train/converter,
# a git-ignored folder small enough (~2 MB) to `carry` to the GPU machine.
#
#   tools/train/stage_converter.sh [LLAMA_CPP_DIR]
#
# LLAMA_CPP_DIR defaults to what scripts/get-llama-cpp-converter.sh prints
# (it downloads llama-cpp-python's source package from PyPI once).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="${1:-$("$repo/scripts/get-llama-cpp-converter.sh")}"
dest="$repo/build-train/converter"
for p in convert_hf_to_gguf.py conversion gguf-py; do
  [ -e "$src/$p" ] || { echo "stage_converter: $src/$p missing" >&2; exit 1; }
done
rm -rf "$dest"
mkdir -p "$dest"
cp -r "$src/convert_hf_to_gguf.py" "$src/conversion" "$src/gguf-py" "$dest/"
rm -rf "$dest/gguf-py/tests"
echo "$dest"
