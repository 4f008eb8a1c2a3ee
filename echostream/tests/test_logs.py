"""The log format: JSON lines with the role and the call site's fields in production, text in
development, and the safety nets (secret-bearing fields, URL passwords, quoted values in errors)."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.log import configure_logging

from echostream import logs
from echostream.core import events
from echostream.web import AccessRecords

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], io.StringIO]]:
    """Configures logging as the settings do, for a format, onto a stream it returns; the role is
    "web". The process's own configuration is put back after."""
    monkeypatch.setattr(logs, "_role", "web")

    def configure(fmt: str) -> io.StringIO:
        stream = io.StringIO()
        config = logs.config(fmt=fmt, level="DEBUG")
        config["handlers"]["console"]["stream"] = stream
        logging.config.dictConfig(config)
        return stream

    yield configure
    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_a_json_line_has_the_time_level_logger_message_role_and_the_fields(configured):
    stream = configured("json")
    with logs.context(room="r1", user_id="7"):
        logging.getLogger("chat.bridge").info(
            "applied %s", "message.created", extra={"event_id": "e1", "seq": 12, "unknown": None}
        )
    [line] = lines(stream)
    entry = json.loads(line)
    moment = datetime.fromisoformat(entry.pop("timestamp"))
    assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    assert entry == {
        "level": "INFO",
        "logger": "chat.bridge",
        "message": "applied message.created",
        "role": "web",
        "room": "r1",
        "user_id": "7",
        "event_id": "e1",
        "seq": 12,
    }


def test_a_field_the_call_passes_wins_over_the_bound_one_and_the_binding_ends_with_its_block(configured):
    stream = configured("json")
    log = logging.getLogger("echostream.test")
    with logs.context(room="bound", seq=1):
        log.info("one", extra={"room": "passed"})
    log.info("two")
    first, second = (json.loads(line) for line in lines(stream))
    assert (first["room"], first["seq"]) == ("passed", 1)
    assert "room" not in second and "seq" not in second


def test_an_exception_is_one_line_with_its_traceback_as_a_string(configured):
    stream = configured("json")
    try:
        raise ZeroDivisionError("the divisor")
    except ZeroDivisionError:
        logging.getLogger("moderation.worker").exception("could not open the report", extra={"room": "r1"})
    [line] = lines(stream)
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["room"] == "r1"
    assert isinstance(entry["exc_info"], str)
    assert entry["exc_info"].startswith("Traceback") and "ZeroDivisionError: the divisor" in entry["exc_info"]


def test_an_exception_nothing_caught_is_logged_as_a_line_before_the_process_ends(configured):
    stream = configured("json")
    try:
        raise RuntimeError("the worker gave up")
    except RuntimeError as exc:
        logs._log_uncaught(RuntimeError, exc, exc.__traceback__)
    [line] = lines(stream)
    entry = json.loads(line)
    assert (entry["level"], entry["logger"], entry["role"]) == ("CRITICAL", "echostream", "web")
    assert "RuntimeError: the worker gave up" in entry["exc_info"]


def test_text_is_a_line_for_a_person_with_the_role_and_the_fields(configured):
    stream = configured("text")
    logging.getLogger("chat.projection").warning("dropped a duplicate", extra={"room": "r1", "seq": 3})
    [line] = lines(stream)
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert " WARNING [web] chat.projection: dropped a duplicate (room=r1 seq=3)" in line


def test_secret_bearing_fields_and_url_passwords_never_reach_a_line(configured):
    stream = configured("json")
    log = logging.getLogger("echostream.test")
    log.warning(
        "cannot reach mongodb://echo:hunter2-uri@db:27017/echo",
        extra={"password": "hunter2-field", "session_key": "abc123sessionkey", "body": "hello-marker"},
    )
    try:
        raise ConnectionError("postgres://app:hunter2-exc@pg/echostream refused")
    except ConnectionError:
        log.exception("database down")
    output = stream.getvalue()
    for secret in ("hunter2-uri", "hunter2-field", "abc123sessionkey", "hello-marker", "hunter2-exc"):
        assert secret not in output
    first, second = (json.loads(line) for line in lines(stream))
    assert first["message"] == "cannot reach mongodb://echo:***@db:27017/echo"
    assert first["password"] == first["session_key"] == first["body"] == logs.REDACTED
    assert "postgres://app:***@pg/echostream refused" in second["exc_info"]


def test_a_parser_error_that_quotes_the_refused_value_is_logged_without_it():
    marker = "the-secret-text-of-a-message"
    raw = json.dumps({"type": marker, "room": "r1"})
    with pytest.raises(events.InvalidEvent) as refused:
        events.decode(raw)
    assert marker in str(refused.value)  # msgspec quotes it: the reason for the elision
    assert marker not in logs.safe_error(refused.value)
    assert logs.safe_error(refused.value).startswith("InvalidEvent: Invalid value '…'")
    long = msgspec.ValidationError("x" * 5000)
    assert len(logs.safe_error(long)) == logs.SAFE_ERROR_CHARS


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        # msgspec quotes a value as it is: quotes and line breaks inside are not escaped.
        ("Invalid value 'it's \"x\"\nand more' - at `$.type`", "Invalid value '…' - at `$.type`"),
        (
            "Object contains unknown field `some words of a text` - at `$.data`",
            "Object contains unknown field `…` - at `$.data`",
        ),
        # Paths and type names stay: they say what was wrong.
        ("Expected `int | null`, got `str` - at `$.data.attachments[0]`", None),
        ("Expected `str` of length <= 4000 - at `$.data.body`", None),
    ],
)
def test_only_the_quoted_values_and_odd_names_of_an_error_are_elided(error, logged):
    assert logs.elided(error) == (logged or error)


def test_uvicorns_access_and_socket_lines_are_records_with_fields_and_without_the_query_string(configured):
    stream = configured("json")
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(AccessRecords())
    try:
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5555", "GET", "/api/rooms/r1/messages/?before=9&token=abc", "1.1", 200
        )
        logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5556", "/ws/?resume=1")
        logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" 403', "127.0.0.1:5557", "/ws/?token=abc")
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    finally:
        for name in ("uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).filters.clear()
    http, connected, rejected, started = (json.loads(line) for line in lines(stream))
    assert "token" not in stream.getvalue()
    assert {key: http[key] for key in ("logger", "message", "method", "path", "status")} == {
        "logger": "uvicorn.access",
        "message": "GET /api/rooms/r1/messages/ 200",
        "method": "GET",
        "path": "/api/rooms/r1/messages/",
        "status": 200,
    }
    assert (connected["logger"], connected["message"], connected["action"], connected["role"]) == (
        "uvicorn.access", "WSCONNECT /ws/", "connected", "web"
    )  # fmt: skip
    assert (rejected["message"], rejected["action"]) == ("WSREJECT /ws/", "rejected")
    assert (started["logger"], started["message"]) == ("uvicorn.error", "Started server process [42]")


def test_an_unknown_format_is_refused():
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT is 'xml'"):
        logs.config(fmt="xml", level="INFO")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEBUG": "false"}, "json"),
        ({"DEBUG": "true"}, "text"),
        ({"DEBUG": "true", "LOG_FORMAT": "json"}, "json"),
        ({"DEBUG": "false", "LOG_FORMAT": "text"}, "text"),
    ],
)
def test_a_management_command_logs_as_its_name_in_the_format_debug_or_log_format_says(env, expected):
    base = {name: value for name, value in os.environ.items() if name not in {"DEBUG", "LOG_FORMAT", "SECRET_KEY"}}
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "import logging; logging.getLogger('echostream.probe').warning('probe', extra={'room': 'r9'})",
        ],
        cwd=REPO,
        env={**base, **env, "SECRET_KEY": "x" * 50},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "probe" in line]
    if expected == "json":
        entry = json.loads(line)
        assert (entry["role"], entry["logger"], entry["message"], entry["room"]) == (
            "shell",
            "echostream.probe",
            "probe",
            "r9",
        )
    else:
        assert "WARNING [shell] echostream.probe: probe (room=r9)" in line
