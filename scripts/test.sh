#!/usr/bin/env bash
# Starts the services the tests need (only those not already running), runs the
# linters and every test, then stops what it started. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(mktemp)
trap 'scripts/services.sh down --only-from "$started"' EXIT
scripts/services.sh up --record "$started"

ruff check .
ruff format --check .
python -m pytest "$@"
