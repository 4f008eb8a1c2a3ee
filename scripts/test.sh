#!/usr/bin/env bash
# Starts the services the tests need (only those not already running), runs the
# linters and the tests (every test, or the pytest arguments given), then stops what it
# started. Exits non-zero on any failure. The fault suite (marker `faults`) starts a private
# set of services of its own and writes its measurements to $ECHOSTREAM_FAULT_RESULTS.
set -euo pipefail
cd "$(dirname "$0")/.."

export ECHOSTREAM_FAULT_RESULTS=${ECHOSTREAM_FAULT_RESULTS:-$PWD/.local/fault-results.json}
started=$(mktemp)
report() {
    if [[ -f "$ECHOSTREAM_FAULT_RESULTS" ]]; then
        echo "fault suite results (docs/reliability.md): $ECHOSTREAM_FAULT_RESULTS"
    fi
    scripts/services.sh down --only-from "$started"
}
trap report EXIT
scripts/services.sh up --record "$started"

ruff check .
ruff format --check .
python -m pytest "$@"
