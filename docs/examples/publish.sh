#!/usr/bin/env bash
# Publish one event to wampd over HTTP with curl.
# WAMPD_URL: the router's base URL (default http://127.0.0.1:8080); WAMPD_SECRET: WEBSOCKET_PUBLISH_SECRET, if set.
set -euo pipefail
url="${WAMPD_URL:-http://127.0.0.1:8080}"
auth=()
if [ -n "${WAMPD_SECRET:-}" ]; then
    auth=(-H "Authorization: Bearer ${WAMPD_SECRET}")
fi
curl --fail-with-body -sS "${auth[@]}" -H 'Content-Type: application/json' \
    --data '{"topic":"com.example.notifications","args":["Build #42 passed"],"kwargs":{"level":"info"}}' \
    "${url}/publish"
echo
