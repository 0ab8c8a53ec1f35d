#!/usr/bin/env bash
# Installs everything hobbit needs to build and test on Debian 12, from Debian's packages and PyPI.
# Idempotent: safe to run again. Usage: scripts/install-deps.sh [--python]
#   --python   also install the Python packages that the tests and the fixture scripts use.
set -euo pipefail

want_python=0
for arg in "$@"; do
  case "$arg" in
    --python) want_python=1 ;;
    *) echo "install-deps.sh: unknown argument '$arg' (allowed: --python)" >&2; exit 2 ;;
  esac
done

sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi

debs=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev prometheus-cpp-dev libsystemd-dev
  prometheus openssl libssl-dev systemd
  libgtest-dev libgmock-dev googletest
  python3 python3-pip python3-venv
)

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$want_python" -eq 1 ]; then
  py_pkgs=(numpy gguf tokenizers sentencepiece grpcio grpcio-tools grpcio-reflection protobuf pytest)
  missing_py=()
  for p in "${py_pkgs[@]}"; do
    python3 -m pip show -q "$p" >/dev/null 2>&1 || missing_py+=("$p")
  done
  if [ "${#missing_py[@]}" -gt 0 ]; then
    echo "install-deps: installing Python packages ${missing_py[*]}"
    # Debian's own python3 refuses system-wide pip installs (PEP 668); these are test tools.
    if ! python3 -m pip install -q --disable-pip-version-check "${missing_py[@]}" 2>/tmp/hobbit-pip.log; then
      if grep -q externally-managed /tmp/hobbit-pip.log; then
        python3 -m pip install -q --disable-pip-version-check --break-system-packages "${missing_py[@]}"
      else
        cat /tmp/hobbit-pip.log >&2
        exit 1
      fi
    fi
  fi
fi
echo "install-deps: done"
