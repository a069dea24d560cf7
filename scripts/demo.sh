#!/usr/bin/env bash
# One command for the demo: set everything up, then run skycall on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
printf '\n\033[1m==> starting skycall: open http://%s:%s and press Call\033[0m\n' "${SKYCALL_HOST:-127.0.0.1}" "${SKYCALL_PORT:-8000}"
export HF_HUB_OFFLINE=1
exec .venv/bin/skycall serve
