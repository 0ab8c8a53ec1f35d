#!/usr/bin/env bash
# Installs what hobbit needs, builds it, and runs every test.
#
#   scripts/test.sh            # the whole suite (GPU tests skip themselves without a GPU)
#   HOBBIT_SANITIZERS=0 scripts/test.sh   # skip the ASan/UBSan pass over the parsers
#
# Builds in build/ (Release with debug info) and, for the sanitizer pass, build-asan/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --python

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

# The code that reads untrusted bytes (GGUF files, tokenizer input, quantized blocks), again
# under AddressSanitizer and UndefinedBehaviorSanitizer.
if [ "${HOBBIT_SANITIZERS:-1}" = "1" ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHOBBIT_CUDA=OFF \
    -DHOBBIT_SANITIZE=address,undefined
  sanitized=(gguf_test quant_test tokenizer_test model_test)
  cmake --build build-asan -j "$jobs" --target "${sanitized[@]}"
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -R "^($(IFS='|'; echo "${sanitized[*]}"))\$"
fi
