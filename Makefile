# EchoStream: `make run` serves http://127.0.0.1:8000, `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test test-faults install install-browser services services-down migrate lint format bench

run: install services migrate
	honcho start -f Procfile

test: install install-browser
	scripts/test.sh

# The fault suite alone: kills and restarts roles and (private) services mid-stream.
test-faults: install
	scripts/test.sh tests/system/test_checker.py tests/system/test_faults.py

install:
	scripts/install.sh

install-browser:
	scripts/install.sh --browser

services:
	scripts/services.sh up

services-down:
	scripts/services.sh down

migrate:
	python manage.py migrate --noinput

lint:
	ruff check .
	ruff format --check .

format:
	ruff format .
	ruff check --fix .

bench: install services
	python bench/message_latency.py
	python bench/history_page.py
	python bench/moderation.py
	python bench/load.py
	python bench/reads.py
	python bench/rebuild.py --events 1000000 --rooms 100
	python bench/idle_sockets.py
