"""Logging for every role: one JSON object a line in production, readable text in development.

`settings.LOGGING` wires these in (the format from `LOG_FORMAT`, else `json` unless DEBUG). Each
line carries the process's role (set once at its start: `start("web")`, and by manage.py for its
commands), and the fields that a call site passes with `extra={...}` or that the code around it
bound with `context(...)`: room, event_id, seq, user_id. docs/operations.md ("Logs") lists the
fields and what is never logged.

What must never reach a log line (message bodies, passwords, session keys, tokens, credentials)
is kept out at the call sites; the filters and formatters here are only a safety net for the keys
and URLs that are known to carry secrets.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from echostream.redaction import redacted

# What names a process in its log lines; manage.py commands that are roles go by the role's name.
_role: str | None = None
COMMAND_ROLES = {"moderation_worker": "moderation", "kafka_bridge": "bridge"}

# Fields bound for the code running in this context (an asyncio task, or a thread's call).
_fields: contextvars.ContextVar[Mapping[str, object] | None] = contextvars.ContextVar(
    "echostream_log_fields", default=None
)

# The fields of every LogRecord; anything else on a record came from `extra` or a filter.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
# Extra keys whose values are secrets or message text wherever they come from.
_SECRET_KEY = re.compile(r"pass(word|wd)|secret|token|session|cookie|authorization|api_?key|credential|body", re.I)
REDACTED = "[redacted]"
# A quoted value inside an error message: msgspec, for one, quotes a value it refused, as it is
# (quotes and line breaks inside unescaped), so everything from the first quote to the last goes.
_QUOTED = re.compile(r"'.*'|\".*\"", re.S)
# msgspec puts paths, type names and unknown fields' names in backticks; a name is the record's.
_BACKTICKED = re.compile(r"`([^`]*)`")
_NAME = r"[$\w.\[\]…-]{1,64}"
_PATH_OR_TYPE = re.compile(rf"{_NAME}(?: \| {_NAME})*")
SAFE_ERROR_CHARS = 300


def start(role: str) -> None:
    """Names this process in every line it logs from now on; once, at the role's start. An
    exception nothing caught is logged too (as a line like the others) before the process ends."""
    global _role
    _role = role
    sys.excepthook = _log_uncaught


def start_command(argv: list[str]) -> None:
    """`start` for `manage.py <command> …`: the role's name for a role, else the command's."""
    command = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else "manage"
    start(COMMAND_ROLES.get(command, command))


def role() -> str:
    if _role is not None:
        return _role
    # Before `start` (pytest, a script), the program's name says at least what ran; for
    # `python -m package` that is the package's.
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    return program.parent.name if program.stem == "__main__" else program.stem


def _log_uncaught(kind: type[BaseException], value: BaseException, traceback: TracebackType | None) -> None:
    # Before logging is configured (an error in the settings) there is no handler that shows the
    # traceback: Python's own report is the better one then.
    if not logging.getLogger().handlers or issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, traceback)
        return
    logging.getLogger("echostream").critical("the process stops on an exception", exc_info=(kind, value, traceback))


@contextlib.contextmanager
def context(**fields: object) -> Iterator[None]:
    """Adds the fields (None ones left out) to every line logged inside the block, in this task
    or thread and in what it starts."""
    token = _fields.set(_bound_with(fields))
    try:
        yield
    finally:
        _fields.reset(token)


def bind(**fields: object) -> None:
    """Adds the fields to every line logged from now on in this context (a socket's task)."""
    _fields.set(_bound_with(fields))


def _bound_with(fields: Mapping[str, object]) -> dict[str, object]:
    return {**(_fields.get() or {}), **{name: value for name, value in fields.items() if value is not None}}


def safe_error(exc: BaseException) -> str:
    """The exception's type and message, for a log line about input that may hold message text:
    quoted values (where parsers put what they refused) elided, and the length bounded."""
    return elided(f"{type(exc).__name__}: {exc}")


def elided(text: str) -> str:
    """`safe_error` for an error already in words."""
    text = _QUOTED.sub(lambda quoted: f"{quoted.group()[0]}…{quoted.group()[0]}", text)
    text = _BACKTICKED.sub(lambda named: named.group() if _PATH_OR_TYPE.fullmatch(named.group(1)) else "`…`", text)
    return text if len(text) <= SAFE_ERROR_CHARS else text[: SAFE_ERROR_CHARS - 1] + "…"


class ContextFilter(logging.Filter):
    """Puts the role and the bound fields on each record (never over a field the call passed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.role = role()
        for name, value in (_fields.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        # A field the call site did not know (extra={"seq": None}) is left out, not written as null.
        for name in [name for name in record.__dict__.keys() - _RECORD_ATTRS if record.__dict__[name] is None]:
            delattr(record, name)
        # Django's request logs carry the request object: its method and path (not the query
        # string, which may carry anything) stand for it.
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "method") and hasattr(request, "path"):
            record.method = request.method
            record.path = request.path
        return True


class RedactFilter(logging.Filter):
    """A safety net: an extra field whose name says it holds a secret or message text is masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in record.__dict__.keys() - _RECORD_ATTRS:
            if _SECRET_KEY.search(name):
                setattr(record, name, REDACTED)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: timestamp (ISO 8601, UTC), level, logger, message, role, the
    record's extra fields, and exc_info (the traceback, as one string) for an exception."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "role"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("reserved_attrs", [*_RECORD_ATTRS, "request"])
        # Unescaped UTF-8: a user's name or a file's name reads as written.
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        # First in the line, where a reader looks for it.
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        log_data["timestamp"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_data, record, message_dict)

    def format(self, record: logging.LogRecord) -> str:
        return redacted(super().format(record))


class TextFormatter(logging.Formatter):
    """A line for a person: time, level, role, logger and message, then the known fields."""

    SHOWN = ("room", "event_id", "seq", "user_id")

    def __init__(self, fmt: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s [%(role)s] %(name)s: %(message)s", *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "role"):
            record.role = role()
        line = super().format(record)
        shown = " ".join(f"{name}={getattr(record, name)}" for name in self.SHOWN if hasattr(record, name))
        if shown:
            first, newline, rest = line.partition("\n")
            line = f"{first} ({shown}){newline}{rest}"
        return redacted(line)


def config(*, fmt: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: every record through one handler on stderr, as `fmt` ("json" or "text")."""
    if fmt not in ("json", "text"):
        raise ImproperlyConfigured(f"LOG_FORMAT is {fmt!r}; set it to json or text")
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}, "redact": {"()": RedactFilter}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["context", "redact"],
                # Also for records of loggers below the root that set a lower level of their own.
                "level": level,
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers print text (and only under DEBUG): its records come here instead.
            "django": {"handlers": [], "propagate": True},
            "django.server": {"handlers": [], "propagate": True},
            "django.channels.server": {"level": "WARNING"},
            # At DEBUG these write SQL parameters (session keys, password hashes) and MongoDB
            # commands (message bodies): never, whatever LOG_LEVEL says.
            "django.db.backends": {"level": "INFO"},
            "pymongo": {"level": "INFO"},
        },
    }
