#!/usr/bin/env bash
# One command for the demo: set everything up, then run skycall on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
printf '\n\033[1m==> starting skycall: open http://%s:%s and press Call\033[0m\n' "${SKYCALL_HOST:-127.0.0.1}" "${SKYCALL_PORT:-8000}"
export HF_HUB_OFFLINE=1
# demo staff accounts (once per data folder): one per role, one fresh password, printed here
accounts="$(.venv/bin/python -c 'from skycall.settings import Settings; print(Settings().data_dir)')/demo-accounts.txt"
if [ ! -f "$accounts" ]; then
  password="Yh-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(9))')-7a"
  for account in agent1:agent agent2:agent supervisor1:supervisor editor1:editor qa1:qa admin1:admin; do
    SKYCALL_NEW_USER_PASSWORD="$password" .venv/bin/skycall users add "${account%%:*}" --role "${account##*:}"
  done
  mkdir -p "$(dirname "$accounts")"
  printf 'demo accounts (agent1, agent2, supervisor1, editor1, qa1, admin1), password: %s\n' "$password" > "$accounts"
  chmod 600 "$accounts"
fi
printf '\n\033[1m==> console: http://%s:%s/console — %s\033[0m\n' "${SKYCALL_HOST:-127.0.0.1}" "${SKYCALL_PORT:-8000}" "$(cat "$accounts")"
exec .venv/bin/skycall serve
