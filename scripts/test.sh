#!/usr/bin/env bash
# One command for the tests: set everything up, then lint, type-check and run the whole suite
# (end-to-end tests included: real models, real LLM server, real Chromium, real PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

printf '\n\033[1m==> PostgreSQL for the storage tests\033[0m\n'
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    sleep 2
  fi
fi
pg_isready -h 127.0.0.1 -p 5432 || echo "PostgreSQL is not reachable: the PostgreSQL test will fail and say so"

export HF_HUB_OFFLINE=1
printf '\n\033[1m==> ruff\033[0m\n'
.venv/bin/ruff check .
.venv/bin/ruff format --check .
printf '\n\033[1m==> mypy (strict)\033[0m\n'
.venv/bin/mypy
printf '\n\033[1m==> pytest\033[0m\n'
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a broken test run, not a pass" >&2
  exit 1
fi
exit "$rc"
