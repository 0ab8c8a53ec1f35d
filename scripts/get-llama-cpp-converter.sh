#!/usr/bin/env bash
# Fetches llama.cpp's HF->GGUF converter (convert_hf_to_gguf.py, its conversion/ package and the
# bundled gguf-py) from the llama-cpp-python source package on PyPI, and extracts the vendored
# llama.cpp tree into a git-ignored folder. llama.cpp's code is never committed to hobbit.
#
# Usage: scripts/get-llama-cpp-converter.sh
#   Prints (on stdout, as its only output) the directory that contains convert_hf_to_gguf.py.
#   Idempotent: a second run with the same version only prints the path.
# Environment (all optional):
#   LLAMA_CPP_PYTHON_VERSION  llama-cpp-python version to fetch (default 0.3.36).
#   LLAMA_CPP_PYTHON_SDIST    path to an already downloaded llama_cpp_python-<ver>.tar.gz (skips pip).
#   HOBBIT_THIRD_PARTY_DIR    where to extract (default <repo>/build/third_party).
#
# Run the converter with the extracted directory's own gguf-py (convert_hf_to_gguf.py puts
# <dir>/gguf-py first on sys.path itself unless NO_LOCAL_GGUF is set), e.g.
#   conv="$(scripts/get-llama-cpp-converter.sh)"
#   python3 "$conv/convert_hf_to_gguf.py" MODEL_DIR --outtype f32 --outfile out.gguf
set -euo pipefail

version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
third_party="${HOBBIT_THIRD_PARTY_DIR:-$repo_root/build/third_party}"
dest="$third_party/llama.cpp"
stamp="$dest/.hobbit-llama-cpp-python-version"

if [ -f "$dest/convert_hf_to_gguf.py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$third_party"
work="$(mktemp -d "$third_party/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

sdist="${LLAMA_CPP_PYTHON_SDIST:-}"
if [ -z "$sdist" ]; then
  echo "get-llama-cpp-converter: downloading llama-cpp-python==$version (source package) from PyPI" >&2
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    "llama-cpp-python==$version" -d "$work/dl" >&2
  sdist="$(find "$work/dl" -maxdepth 1 -name 'llama_cpp_python-*.tar.gz' | head -n 1)"
  if [ -z "$sdist" ]; then
    echo "get-llama-cpp-converter: pip download produced no llama_cpp_python-*.tar.gz in $work/dl" >&2
    exit 1
  fi
fi
if [ ! -f "$sdist" ]; then
  echo "get-llama-cpp-converter: source package '$sdist' does not exist" >&2
  exit 1
fi

echo "get-llama-cpp-converter: extracting vendor/llama.cpp from $(basename "$sdist")" >&2
top="llama_cpp_python-$version"
tar -xzf "$sdist" -C "$work" "$top/vendor/llama.cpp"
if [ ! -f "$work/$top/vendor/llama.cpp/convert_hf_to_gguf.py" ]; then
  echo "get-llama-cpp-converter: $top/vendor/llama.cpp/convert_hf_to_gguf.py missing from $sdist" >&2
  exit 1
fi
echo "$version" > "$work/$top/vendor/llama.cpp/.hobbit-llama-cpp-python-version"
rm -rf "$dest"
mv "$work/$top/vendor/llama.cpp" "$dest"
echo "$dest"
