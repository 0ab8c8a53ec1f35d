#!/usr/bin/env bash
# Installs what hobbit needs, builds it, and runs hobbitd in the foreground on the
# built-in demo model, at 127.0.0.1:50051. Arguments are passed to hobbitd, e.g.
#   scripts/serve.sh --model /models/mixtral-8x7b-instruct.Q4_K_M.gguf --listen 0.0.0.0:50051
# Stop it with Ctrl-C (it drains in-flight streams first).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build --target hobbitd hobbit hobbit-tool
exec build/bin/hobbitd --config config/hobbitd.yaml "$@"
