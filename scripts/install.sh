#!/usr/bin/env bash
# Installs what is missing, idempotently: the Python virtualenv with the pinned
# requirements, and with --browser, Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
python=${PYTHON:-python3}

if [[ "${1:-}" == "--browser" ]]; then
  if [[ ! -x /usr/bin/chromium ]]; then
    echo "install: Chromium is missing; installing Debian's chromium package" >&2
    if [[ $(id -u) -ne 0 ]]; then
      echo "install: run as root, or 'sudo apt-get install -y chromium', then again" >&2
      exit 1
    fi
    for _ in $(seq 60); do
      if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
        break
      fi
      echo "install: apt-get busy (another install holds the lock?); retrying in 5 s" >&2
      sleep 5
    done
    [[ -x /usr/bin/chromium ]] || { echo "install: could not install chromium" >&2; exit 1; }
  fi
  exit 0
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "install: EchoStream needs Python 3.11 as '$python' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
  echo "install: creating the virtualenv $venv" >&2
  "$python" -m venv "$venv"
fi
stamp="$venv/.requirements-$(sha1sum requirements.txt | cut -c1-12)"
if [[ ! -e "$stamp" ]]; then
  echo "install: installing requirements.txt into $venv" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r requirements.txt
  rm -f "$venv"/.requirements-*
  touch "$stamp"
fi
