#!/usr/bin/env bash
# Start the local StarRocks, wait until its backend is live, then create databases and raw tables.
set -euo pipefail
cd "$(dirname "$0")/.."

wait_seconds="${STARROCKS_UP_TIMEOUT:-300}"

docker compose up -d starrocks
container="$(docker compose ps -q starrocks)"

echo "waiting up to ${wait_seconds}s for StarRocks to report a live backend..."
deadline=$((SECONDS + wait_seconds))
while true; do
  health="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$container")"
  [ "$health" = "healthy" ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "StarRocks is not healthy after ${wait_seconds}s (status: ${health})." >&2
    echo "Check: docker compose logs starrocks; raise STARROCKS_UP_TIMEOUT on a slow machine." >&2
    exit 1
  fi
  sleep 5
done
echo "StarRocks is up: MySQL 127.0.0.1:9030, HTTP 127.0.0.1:8030"

if [ -x .venv/bin/python ]; then python=(.venv/bin/python); else python=(uv run python); fi
RETAIL_WAREHOUSE=starrocks \
  STARROCKS_HOST="${STARROCKS_HOST:-127.0.0.1}" \
  STARROCKS_PORT="${STARROCKS_PORT:-9030}" \
  "${python[@]}" -m retail_platform.cli init
