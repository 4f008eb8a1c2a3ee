"""The text filters: each a pure function `(text, rules, context) -> Verdict` with one job, and
the pipeline that runs them in a fixed order.

A filter finds what breaks its rule and answers what the room's policy says to do about it:
pass, censor (with the new text), reject (with a detail for the sender that names the rule)
or flag (deliver, and open a report with the reason). `run` folds the censors (each filter
sees the text as the ones before it left it), collects the flags and stops at the first
rejection. Nothing here reads a store: the rules (moderation.rules) and the flood count
(moderation.flood) are looked up before, so each filter is tested with plain values.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from moderation.models import Action
from moderation.rules import Rules

logger = logging.getLogger(__name__)

MASK = "****"
REJECTED = "Your message was not sent: "


@dataclass(frozen=True, kw_only=True)
class Context:
    """What a filter may know about the message besides its text."""

    # An edit is filtered like a new message, except that it does not count as a repeat.
    is_edit: bool = False
    # How many times (this one included) the sender sent the same text to the room within the
    # flood window; None when not counted (an edit, or a room whose flood rule is `allow`).
    repeats: int | None = None


@dataclass(frozen=True)
class Pass:
    pass


@dataclass(frozen=True)
class Censor:
    text: str


@dataclass(frozen=True)
class Reject:
    detail: str


@dataclass(frozen=True)
class Flag:
    rule: str
    reason: str


Verdict = Pass | Censor | Reject | Flag
Filter = Callable[[str, Rules, Context], Verdict]

PASS = Pass()


def _act(action: str, *, rule: str, censored: Callable[[], str], detail: str, reason: str) -> Verdict:
    """What the policy's action makes of a broken rule; `censored` is called only when needed."""
    if action == Action.CENSOR:
        return Censor(censored())
    if action == Action.REJECT:
        return Reject(REJECTED + detail)
    if action == Action.FLAG:
        return Flag(rule=rule, reason=f"{rule}: {reason}")
    return PASS


# --- length ----------------------------------------------------------------------


def check_length(text: str, rules: Rules, context: Context) -> Verdict:
    limit = rules.max_length
    if rules.length == Action.ALLOW or len(text) <= limit:
        return PASS
    return _act(
        rules.length,
        rule="length",
        censored=lambda: text[: max(0, limit - 1)] + "…" if limit else "",
        detail=f"messages in this room hold at most {limit} characters.",
        reason=f"{len(text)} characters, more than {limit}",
    )


# --- banned words, phrases and patterns --------------------------------------------


def check_banned(text: str, rules: Rules, context: Context) -> Verdict:
    if rules.banned == Action.ALLOW or not rules.banned_patterns:
        return PASS
    # Moderators' patterns see a bounded prefix, each for a bounded time (see moderation.rules).
    scanned = text[: rules.pattern_max_input]
    for banned in rules.banned_patterns:
        try:
            found = banned.pattern.search(scanned, timeout=rules.pattern_timeout_seconds)
        except TimeoutError:
            _log_timeout(banned.label, len(scanned))
            continue
        if found is None:
            continue
        shown = _quoted(found.group(0))
        return _act(
            rules.banned,
            rule="banned",
            censored=lambda: _masked(text, rules),
            detail=f"{shown} is not allowed in this room.",
            reason=f"{shown} (banned: {banned.label})",
        )
    return PASS


def _masked(text: str, rules: Rules) -> str:
    head, tail = text[: rules.pattern_max_input], text[rules.pattern_max_input :]
    for banned in rules.banned_patterns:
        try:
            # A pattern that matches the empty string would insert masks everywhere.
            head = banned.pattern.sub(
                lambda found: MASK if found.group(0) else "", head, timeout=rules.pattern_timeout_seconds
            )
        except TimeoutError:
            # What it matched cannot all be found in time: nothing it scans goes out.
            _log_timeout(banned.label, len(head))
            head = MASK
    return head + tail


def _log_timeout(label: str, length: int) -> None:
    logger.warning("banned pattern %s ran out of time on a message of %d characters; skipped", label, length)


def _quoted(found: str, limit: int = 40) -> str:
    return "“" + (found if len(found) <= limit else found[: limit - 1] + "…") + "”"


# --- links -----------------------------------------------------------------------

# A link: a scheme's URL, a `www.` address, or a bare domain of a common top-level domain
# (spammers leave the scheme out; "file.txt" or "e.g." must stay text, hence the short list).
_BARE_TLDS = (
    "com|net|org|info|biz|io|co|me|ru|cn|de|uk|fr|nl|xyz|top|site|online|club|shop|app|dev|ly|gg|tk|to|cc|tv|us"
)
_LINK = re.compile(
    r"(?:\b(?:https?|ftp)://[^\s<>\"']+)"
    r"|(?:\bwww\.[^\s<>\"']+)"
    rf"|(?:(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+(?:{_BARE_TLDS})\b(?:/[^\s<>\"']*)?)",
    re.IGNORECASE,
)


def link_host(link: str) -> str:
    """The link's host, lower-case, without port, user or trailing dot."""
    with_scheme = link if "://" in link else "http://" + link
    try:
        host = urlsplit(with_scheme).hostname or ""
    except ValueError:  # a malformed IPv6 literal, say
        host = ""
    return host.rstrip(".").lower()


def _within(host: str, domains: frozenset[str]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def check_links(text: str, rules: Rules, context: Context) -> Verdict:
    if rules.links == Action.ALLOW:
        return PASS
    links = [found.group(0) for found in _LINK.finditer(text)]
    if not links:
        return PASS
    hosts = [link_host(link) for link in links]
    bad = [
        host
        for host in hosts
        if _within(host, rules.denied_domains) or (rules.allowed_domains and not _within(host, rules.allowed_domains))
    ]

    def censored() -> str:
        kept = 0

        def mask(found: re.Match[str]) -> str:
            nonlocal kept
            host = link_host(found.group(0))
            ok = not _within(host, rules.denied_domains) and (
                not rules.allowed_domains or _within(host, rules.allowed_domains)
            )
            if ok and kept < rules.max_links:
                kept += 1
                return found.group(0)
            return MASK

        return _LINK.sub(mask, text)

    if bad:
        named = ", ".join(sorted(set(bad))[:3]) or "that site"
        return _act(
            rules.links,
            rule="links",
            censored=censored,
            detail=f"links to {named} are not allowed in this room.",
            reason=f"links to {named}",
        )
    if len(links) > rules.max_links:
        detail = (
            "links are not allowed in this room."
            if rules.max_links == 0
            else f"at most {rules.max_links} link{'s' if rules.max_links != 1 else ''} per message in this room."
        )
        return _act(
            rules.links,
            rule="links",
            censored=censored,
            detail=detail,
            reason=f"{len(links)} links, more than {rules.max_links}",
        )
    return PASS


# --- flooding ------------------------------------------------------------------------


def normalised(text: str) -> str:
    """The text as flooding compares it: Unicode-compatible forms, case and spacing folded."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def check_flood(text: str, rules: Rules, context: Context) -> Verdict:
    if rules.flood == Action.ALLOW or context.repeats is None or context.repeats <= rules.flood_repeats:
        return PASS
    # There is nothing to mask in a repeat: censoring a flood refuses it, as `reject` does.
    action = Action.REJECT if rules.flood == Action.CENSOR else rules.flood
    return _act(
        action,
        rule="flood",
        censored=lambda: text,
        detail=(
            f"you sent the same text more than {rules.flood_repeats} times within "
            f"{rules.flood_window_seconds} seconds; wait before repeating it."
        ),
        reason=f"the same text {context.repeats} times within {rules.flood_window_seconds} s",
    )


# --- capitals ----------------------------------------------------------------------


def check_capitals(text: str, rules: Rules, context: Context) -> Verdict:
    if rules.capitals == Action.ALLOW:
        return PASS
    # Only letters that have a case count: a line of Chinese or digits is not shouting.
    upper = lower = 0
    for char in text:
        if char.isupper():
            upper += 1
        elif char.islower():
            lower += 1
    letters = upper + lower
    if letters < rules.capitals_min_letters or upper <= rules.capitals_max_ratio * letters:
        return PASS
    return _act(
        rules.capitals,
        rule="capitals",
        censored=text.lower,
        detail="too many capitals (that reads as shouting); please write in lower case.",
        reason=f"{upper} of {letters} letters are capitals",
    )


# --- profanity ---------------------------------------------------------------------


def check_profanity(text: str, rules: Rules, context: Context) -> Verdict:
    if rules.profanity == Action.ALLOW:
        return PASS
    censored = rules.profanity_censor.censor(text)
    if censored == text:
        return PASS
    return _act(
        rules.profanity,
        rule="profanity",
        censored=lambda: censored,
        detail="it contains language that is not allowed in this room.",
        reason="profanity",
    )


# --- the pipeline ------------------------------------------------------------------

# Cheap and decisive first: an over-long text is refused before anything scans it, and a
# refusal (banned, links, flood, capitals) before the text is censored for nothing.
FILTERS: tuple[Filter, ...] = (
    check_length,
    check_banned,
    check_links,
    check_flood,
    check_capitals,
    check_profanity,
)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    text: str
    censored: bool = False
    flags: tuple[Flag, ...] = ()
    # The detail for the sender when a filter rejected the message (the text is then moot).
    rejected: str | None = None


def run(text: str, rules: Rules, context: Context, filters: tuple[Filter, ...] = FILTERS) -> Outcome:
    """Every filter in order over the text: censors folded, flags collected, the first rejection final."""
    current, censored, flags = text, False, []
    for check in filters:
        verdict = check(current, rules, context)
        if isinstance(verdict, Reject):
            return Outcome(text=current, censored=censored, flags=tuple(flags), rejected=verdict.detail)
        if isinstance(verdict, Censor) and verdict.text != current:
            current, censored = verdict.text, True
        elif isinstance(verdict, Flag):
            flags.append(verdict)
    return Outcome(text=current, censored=censored, flags=tuple(flags))
