"""The rules a room's messages pass through, read from what moderators keep in the admin.

A room follows its own RoomPolicy, else the site default (the row without a room, made by
migration 0002 so that moderators find it in the admin), else the built-in defaults (the
model's field defaults, should that row be deleted). Policies, banned phrases and extra
profanity words are read afresh: each worker process keeps them for at most
settings.MODERATION_RULES_CACHE_SECONDS, so an edit in the admin applies within seconds,
without a restart.

Moderators' patterns are regular expressions from people, run on every message, so a bad one
must never stop or stall the worker. A pattern is refused (skipped and logged) when it does
not compile or when it repeats something that itself repeats or alternates (`(a+)+`,
`(a|aa)*`) or refers back to a group: the shapes that backtrack exponentially. That check
alone is not enough: `(a?){26}a{26}` passes it and backtracks exponentially, and repeats side
by side (`.*.*.*z`) are polynomial, minutes on a 4,000-character message under `re`. So
patterns run on the `regex` module (Python's `re` syntax, with a timeout): each search or
substitution of one pattern gets settings.MODERATION_PATTERN_TIMEOUT_SECONDS, and one that runs
out is skipped for that message and logged (moderation.filters). The length of a pattern is
bounded by its column (300), and patterns see at most settings.MODERATION_PATTERN_MAX_INPUT_CHARS
of a message.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import regex
from django.conf import settings
from django.db.models import Q

from moderation.models import BannedPhrase, ProfanityWord, RoomPolicy
from moderation.profanity import ProfanityCensor

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class BannedPattern:
    # As the admin shows it: the phrase, or the pattern between slashes.
    label: str
    pattern: regex.Pattern[str]


@dataclass(frozen=True, kw_only=True)
class Rules:
    """One room's policy, with its word lists made ready to use. Actions are moderation.models.Action values."""

    profanity: str
    links: str
    allowed_domains: frozenset[str]
    denied_domains: frozenset[str]
    max_links: int
    flood: str
    flood_repeats: int
    flood_window_seconds: int
    capitals: str
    capitals_max_ratio: float
    capitals_min_letters: int
    length: str
    max_length: int
    banned: str
    banned_patterns: tuple[BannedPattern, ...]
    profanity_censor: ProfanityCensor
    pattern_max_input: int
    # Each pattern's search (or substitution) of one message stops after this long.
    pattern_timeout_seconds: float


def _domains(text: str) -> frozenset[str]:
    names = (line.strip().lower().rstrip(".") for line in text.replace(",", "\n").splitlines())
    return frozenset(name.removeprefix("*.").removeprefix(".") for name in names if name)


def rules_of(
    policy: RoomPolicy, *, banned_patterns: tuple[BannedPattern, ...], profanity_censor: ProfanityCensor
) -> Rules:
    return Rules(
        profanity=policy.profanity,
        links=policy.links,
        allowed_domains=_domains(policy.allowed_domains),
        denied_domains=_domains(policy.denied_domains),
        max_links=policy.max_links,
        flood=policy.flood,
        flood_repeats=policy.flood_repeats,
        flood_window_seconds=max(1, policy.flood_window_seconds),
        capitals=policy.capitals,
        capitals_max_ratio=policy.capitals_max_ratio,
        capitals_min_letters=policy.capitals_min_letters,
        length=policy.length,
        max_length=policy.max_length,
        banned=policy.banned,
        banned_patterns=banned_patterns,
        profanity_censor=profanity_censor,
        pattern_max_input=settings.MODERATION_PATTERN_MAX_INPUT_CHARS,
        pattern_timeout_seconds=settings.MODERATION_PATTERN_TIMEOUT_SECONDS,
    )


# --- Patterns --------------------------------------------------------------------


class UnsafePattern(ValueError):
    pass


try:
    from re import _parser as _sre_parser  # Python 3.11+: the parser `re.compile` itself uses
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parser  # type: ignore[no-redef]

_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}


def _check_backtracking(parsed: object, *, inside_repeat: bool = False) -> None:
    """Raises UnsafePattern for a repeat inside a repeat, an alternation inside a repeat, or a back-reference."""
    for op, arg in parsed:  # type: ignore[attr-defined]
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS"):
            raise UnsafePattern("refers back to a group")
        if name in _REPEATS:
            _low, high, sub = arg
            repeats = high is _sre_parser.MAXREPEAT or high > 1
            if repeats and inside_repeat:
                raise UnsafePattern("repeats something that repeats")
            _check_backtracking(sub, inside_repeat=inside_repeat or repeats)
        elif name == "BRANCH":
            if inside_repeat:
                raise UnsafePattern("repeats an alternation")
            for branch in arg[1]:
                _check_backtracking(branch, inside_repeat=inside_repeat)
        elif name == "SUBPATTERN":
            _check_backtracking(arg[-1], inside_repeat=inside_repeat)
        elif name in ("ASSERT", "ASSERT_NOT", "ATOMIC_GROUP"):
            _check_backtracking(arg[-1], inside_repeat=inside_repeat)


def compile_banned(text: str, *, is_pattern: bool) -> regex.Pattern[str]:
    """The regular expression a banned phrase or pattern is matched with, case-blind; re.error,
    regex.error or UnsafePattern for a pattern that must not run. Its matches need a `timeout`."""
    if not is_pattern:
        # A phrase matches whole words: "ass" must not ban "class".
        return regex.compile(r"(?<!\w)" + re.escape(text.strip()) + r"(?!\w)", regex.IGNORECASE | regex.VERSION0)
    # Parsed as `re` parses it: a pattern means what Python's own syntax says it means.
    _check_backtracking(_sre_parser.parse(text, re.IGNORECASE))
    return regex.compile(text, regex.IGNORECASE | regex.VERSION0)


# Each refused pattern is logged once per process, not at every reload of the rules.
_refused_logged: set[str] = set()


def _banned_patterns(rows: Iterable[tuple[str, bool]]) -> tuple[BannedPattern, ...]:
    ready = []
    for text, is_pattern in rows:
        if not text.strip():
            continue
        try:
            pattern = compile_banned(text, is_pattern=is_pattern)
        except (re.error, regex.error, UnsafePattern, RecursionError, OverflowError) as exc:
            if text not in _refused_logged:
                _refused_logged.add(text)
                logger.warning("banned pattern /%s/ skipped: %s", text, exc)
            continue
        ready.append(BannedPattern(label=f"/{text}/" if is_pattern else text, pattern=pattern))
    return tuple(ready)


# --- Loading and caching -----------------------------------------------------------


@lru_cache(maxsize=4)
def _censor_for(words: tuple[str, ...]) -> ProfanityCensor:
    # Building a censor costs more than a query: one per distinct word list.
    return ProfanityCensor(extra_words=words)


def load(*, room_id: str) -> Rules:
    """The room's rules as the database holds them now."""
    policies = {policy.room_id: policy for policy in RoomPolicy.objects.filter(Q(room_id=room_id) | Q(room=None))}
    policy = policies.get(room_id) or policies.get(None) or RoomPolicy()
    banned = BannedPhrase.objects.filter(Q(room_id=room_id) | Q(room=None)).order_by("pk")
    words = tuple(sorted(ProfanityWord.objects.values_list("word", flat=True)))
    return rules_of(
        policy,
        banned_patterns=_banned_patterns(banned.values_list("text", "is_pattern")),
        profanity_censor=_censor_for(words),
    )


# Tests replace the clock.
clock = time.monotonic
_cache: dict[str, tuple[float, Rules]] = {}
_cache_lock = threading.Lock()


def for_room(*, room_id: str) -> Rules:
    """The room's rules, read at most settings.MODERATION_RULES_CACHE_SECONDS ago."""
    now = clock()
    with _cache_lock:
        cached = _cache.get(room_id)
    if cached is not None and now < cached[0]:
        return cached[1]
    rules = load(room_id=room_id)
    with _cache_lock:
        if len(_cache) > 10_000:
            # Many rooms, each read once: forget the lot rather than grow without end.
            _cache.clear()
        _cache[room_id] = (now + settings.MODERATION_RULES_CACHE_SECONDS, rules)
    return rules


def forget() -> None:
    with _cache_lock:
        _cache.clear()
