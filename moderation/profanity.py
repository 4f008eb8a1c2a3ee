"""Profanity censor: exactly `better_profanity.profanity.censor(text)` (0.7.0, default word list),
but about a thousand times faster. Pure Python, no Django.

What better-profanity really does (and so what this module reproduces, quirks included):

- Words are maximal runs of ALLOWED_CHARACTERS (ASCII letters and digits, `@ $ * " '` and the
  ~5,800 Unicode letters/marks of its `alphabetic_unicode.json`); every other character separates.
  If the first word starts at the text's last character, or there is none, the text is returned.
- A string "is a swear word" when it has a listed word's length and each of its characters is one
  of that word's character's variants (CHARS_MAPPING: a -> a@*4, i -> i*l1, o -> o*0@, u -> u*v,
  v -> v*u, l -> l1, e -> e*3, s -> s$5, t -> t7; any other character stands for itself).
  Candidates are lowered with `str.lower()` first (so the Kelvin sign counts as `k`). The default
  list is lowered; words added later (`add_censor_words`) are not, so an uppercase extra word
  never matches.
- At each word followed by a separator it looks ahead at the next MAX words (MAX = the most
  separators in one default word: 5, for `p.u.s.s.y.`; extra words do not raise it): for
  j = 1..MAX it tests the word glued to the next j words both without separators (`a ss` ->
  `ass`) and with them (`sh!t` from `sh` `!t`), each piece lowered on its own. The first hit
  replaces everything from the word to the end of the j-th next word with `****` (the separator
  right after the first word goes too); if that last word ends the text, the text ends there.
- A single-character word that ends the text is never a "next word" (`x sh!t` stays as is), and
  the word that ends the text is only ever tested on its own.
- Otherwise a word that is itself a swear word becomes `****`; separators are kept as they were.
- Its look-ahead window is carried from word to word rather than recomputed; with MAX >= 2 that
  is the same as recomputing it at every word, which this module does (lazily, where it can
  matter). With MAX = 1 it would skip every other word, hence the assertion below.

How it is fast: better-profanity compares every candidate against all 916 words in Python. Here
each character is mapped to a coarse class (the characters that CHARS_MAPPING links are one
class), so a candidate can only match words with the same coarse key: a dict lookup, then an
exact check of the few words under that key. The coarse keys of every prefix of every word form
a set, so a word whose key is not in it starts no match, and a look-ahead stops as soon as the
glued string leaves it. Most messages never get past one C-level `set.isdisjoint` over their words.
Only the tables are precomputed; every text is filtered afresh.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from better_profanity.constants import ALLOWED_CHARACTERS
from better_profanity.utils import get_complete_path_of_file, read_wordlist

__all__ = ["ProfanityCensor", "censor", "censor_with", "contains_profanity"]

# better-profanity sets this per instance in Profanity.__init__; a test checks it is unchanged.
CHARS_MAPPING: dict[str, tuple[str, ...]] = {
    "a": ("a", "@", "*", "4"),
    "i": ("i", "*", "l", "1"),
    "o": ("o", "*", "0", "@"),
    "u": ("u", "*", "v"),
    "v": ("v", "*", "u"),
    "l": ("l", "1"),
    "e": ("e", "*", "3"),
    "s": ("s", "$", "5"),
    "t": ("t", "7"),
}
REPLACEMENT = "****"


def _coarse_table() -> dict[int, str]:
    """Union-find over CHARS_MAPPING: each character maps to its class's representative, so that
    a candidate and a word it matches always have the same translation (never the converse)."""
    parent: dict[str, str] = {}

    def root(char: str) -> str:
        while parent.setdefault(char, char) != char:
            char = parent[char]
        return char

    for char, variants in CHARS_MAPPING.items():
        for variant in variants:
            parent[root(variant)] = root(char)
    return {ord(char): root(char) for char in parent if root(char) != char}


_COARSE = _coarse_table()


def _word_pattern() -> re.Pattern[str]:
    """`([allowed]+)`: re.split then yields the separators at even and the words at odd indices."""
    points = sorted(map(ord, ALLOWED_CHARACTERS))
    ranges: list[str] = []
    start = previous = points[0]
    for point in [*points[1:], -1]:
        if point != previous + 1:
            ranges.append(f"\\U{start:08x}" if start == previous else f"\\U{start:08x}-\\U{previous:08x}")
            start = point
        previous = point
    return re.compile(f"([{''.join(ranges)}]+)")


_WORDS = _word_pattern()
_DEFAULT_WORDS = frozenset(word.lower() for word in read_wordlist(get_complete_path_of_file("profanity_wordlist.txt")))
MAX_LOOKAHEAD = max(1, *(sum(char not in ALLOWED_CHARACTERS for char in word) for word in _DEFAULT_WORDS))
# With a window of one, better-profanity's carried window empties at every other word; the
# recomputed window used here would then disagree (see the module docstring).
assert MAX_LOOKAHEAD >= 2, "the default word list changed: check the look-ahead emulation"


class ProfanityCensor:
    """better-profanity's default list plus `extra_words`, as `Profanity.add_censor_words(extra_words)`
    would add them (as given, not lowered, without widening the look-ahead)."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        words = _DEFAULT_WORDS | frozenset(extra_words)
        # Each word is stored as its per-position variants: `char in variants` is the exact test.
        by_key: dict[str, list[tuple[str, ...]]] = {}
        prefixes: set[str] = set()
        for word in words:
            key = word.translate(_COARSE)
            by_key.setdefault(key, []).append(tuple("".join(CHARS_MAPPING.get(char, char)) for char in word))
            prefixes.update(key[:end] for end in range(1, len(key) + 1))
        self._by_key = {key: tuple(variants) for key, variants in by_key.items()}
        self._prefixes = frozenset(prefixes)

    def _is_swear_word(self, lowered: str, key: str) -> bool:
        candidates = self._by_key.get(key)
        if candidates is None:
            return False
        return any(all(char in allowed for char, allowed in zip(lowered, word, strict=True)) for word in candidates)

    def censor(self, text: str) -> str:
        parts = _WORDS.split(text)
        if len(parts[0]) >= len(text) - 1:
            return text
        words = parts[1::2]
        # One lower() over the joined words equals lowering each: a space is neither cased nor
        # case-ignorable, so it cuts the only context-dependent mapping (final sigma).
        lowered = " ".join(words).lower()
        keys = lowered.translate(_COARSE).split(" ")
        if self._prefixes.isdisjoint(keys):
            return text
        return self._censor_words(parts[0], words, parts[2::2], lowered.split(" "), keys)

    def _censor_words(
        self, leading: str, words: list[str], separators: list[str], lowered: list[str], keys: list[str]
    ) -> str:
        out = [leading]
        count = len(words)
        # A one-character word that ends the text is not a "next word" for the look-ahead.
        lookahead_end = count if separators[-1] or len(words[-1]) > 1 else count - 1
        index = 0
        while index < count:
            word, separator = words[index], separators[index]
            if keys[index] in self._prefixes:
                if separator:
                    end = self._phrase_end(
                        index, min(index + MAX_LOOKAHEAD + 1, lookahead_end), words, separators, lowered, keys
                    )
                    if end is not None:
                        out.append(REPLACEMENT)
                        if not separators[end]:
                            break
                        out.append(separators[end])
                        index = end + 1
                        continue
                if self._is_swear_word(lowered[index], keys[index]):
                    word = REPLACEMENT
            out.append(word)
            out.append(separator)
            index += 1
        return "".join(out)

    def _phrase_end(
        self, index: int, stop: int, words: list[str], separators: list[str], lowered: list[str], keys: list[str]
    ) -> int | None:
        """The first next word (before `stop`) whose gluing to `words[index]` makes a swear word."""
        glued: str | None = lowered[index]
        spaced: str | None = glued
        glued_key = spaced_key = keys[index]
        for end in range(index + 1, stop):
            # A glued string whose key is no prefix key can only grow into non-matches: drop it.
            if glued is not None:
                glued += lowered[end]
                glued_key += keys[end]
                if glued_key not in self._prefixes:
                    glued = None
                elif self._is_swear_word(glued, glued_key):
                    return end
            if spaced is not None:
                piece = (separators[end - 1] + words[end]).lower()
                spaced += piece
                spaced_key += piece.translate(_COARSE)
                if spaced_key not in self._prefixes:
                    spaced = None
                elif self._is_swear_word(spaced, spaced_key):
                    return end
            if glued is None and spaced is None:
                return None
        return None

    def contains_profanity(self, text: str) -> bool:
        """As better-profanity defines it: censoring changes the text."""
        return self.censor(text) != text


_DEFAULT = ProfanityCensor()


@functools.lru_cache(maxsize=16)
def _censor_for(extra_words: frozenset[str]) -> ProfanityCensor:
    return ProfanityCensor(extra_words)


def censor(text: str) -> str:
    """`better_profanity.profanity.censor(text)` with the default word list."""
    return _DEFAULT.censor(text)


def contains_profanity(text: str) -> bool:
    return _DEFAULT.contains_profanity(text)


def censor_with(text: str, extra_words: Iterable[str]) -> str:
    """The censor with the moderators' extra words; the tables (never results) are cached per set."""
    extra = frozenset(extra_words)
    return _censor_for(extra).censor(text) if extra else _DEFAULT.censor(text)
