"""Profanity censor: exactly `better_profanity.profanity.censor(text)` (0.7.0, default word list),
but about two thousand times faster on ordinary chat (docs/performance.md). Pure Python, no
Django.

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

How it is fast: better-profanity compares every candidate against all 916 words in Python (and
MAX look-ahead candidates per word). Here a candidate is translated to a key in which the
characters that CHARS_MAPPING links share one representative, so it can only match the words
with its key: a dict lookup, then an exact check of the few words under it. The keys of every
prefix of every word form a set: a word whose key is not in it starts nothing, and a look-ahead
stops as soon as a glued string leaves it. Before any Python loop, three C-level `isdisjoint`
tests over the message's word keys (alone, glued to the next, able to go on with a separator)
clear about nine ordinary messages in ten; for ASCII text, and text whose non-ASCII characters
all separate (emoji), those keys come from one `lower().translate().split()`. `*` stands for six
letters, so it gets coarser keys of its own, used only for texts that contain one. Only these
tables are precomputed (tens of milliseconds and under 2 MB at import); every text is filtered
afresh.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from operator import add

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


def _key_table(wildcard: str = "") -> dict[int, str]:
    """Union-find over CHARS_MAPPING (leaving out `wildcard`): each character maps to its class's
    representative, so that a string and a word it matches always translate alike (not conversely)
    as long as the string holds no `wildcard`."""
    parent: dict[str, str] = {}

    def root(char: str) -> str:
        while parent.setdefault(char, char) != char:
            char = parent[char]
        return char

    for char, variants in CHARS_MAPPING.items():
        for variant in variants:
            if variant != wildcard:
                parent[root(variant)] = root(char)
    return {ord(char): root(char) for char in parent if root(char) != char}


class _Keys:
    """A word list indexed by one key table: the words under each key (as per-position variants,
    for the exact test) and every prefix of every key (no match can grow out of a non-prefix)."""

    def __init__(self, words: Iterable[str], table: dict[int, str]) -> None:
        self.table = table
        self.ascii_table = {**{point: " " for point in range(128) if chr(point) not in ALLOWED_CHARACTERS}, **table}
        by_key: dict[str, list[tuple[str, ...]]] = {}
        prefixes: set[str] = set()
        for word in words:
            key = word.translate(table)
            by_key.setdefault(key, []).append(tuple("".join(CHARS_MAPPING.get(char, char)) for char in word))
            prefixes.update(key[:end] for end in range(1, len(key) + 1))
        self.by_key = {key: tuple(variants) for key, variants in by_key.items()}
        self.prefixes = frozenset(prefixes)
        # The prefixes that a separator can extend: the key goes on with a character that a
        # separator's first character lowers to, which is never an ASCII word character (a test
        # checks all of Unicode) and so is never translated.
        self.spaced_starts = frozenset(
            key[:end]
            for key in by_key
            for end in range(1, len(key))
            if not (key[end].isascii() and key[end] in ALLOWED_CHARACTERS)
        )

    def is_swear_word(self, lowered: str, key: str) -> bool:
        words = self.by_key.get(key)
        return words is not None and any(
            all(char in allowed for char, allowed in zip(lowered, word, strict=True)) for word in words
        )


# `*` stands for six letters and links them all into one class: keys that tell common words apart
# (`have` from `hell`, `funny` from `fanny`) need `*` left out; a text that holds one uses the coarse keys.
_FINE = _key_table(wildcard="*")
_COARSE = _key_table()


def _class(points: list[int]) -> str:
    """A regex character class of the code points, as ranges."""
    ranges: list[str] = []
    start = previous = points[0]
    for point in [*points[1:], -1]:
        if point != previous + 1:
            ranges.append(f"\\U{start:08x}" if start == previous else f"\\U{start:08x}-\\U{previous:08x}")
            start = point
        previous = point
    return f"[{''.join(ranges)}]"


def _one_of(chars: Iterable[str]) -> str:
    """A regex for one of `chars`. re compiles the BMP part of a class to a lookup table but tests
    characters beyond it range by range (a hundred ranges here), so one class would make every
    separator slow; the lookahead keeps BMP characters away from the astral class."""
    points = sorted(map(ord, chars))
    bmp = _class([point for point in points if point < 0x10000])
    astral = _class([point for point in points if point >= 0x10000])
    return f"(?:{bmp}|(?=[\\U00010000-\\U0010ffff]){astral})"


# `(word)`: re.split then yields the separators at even and the words at odd indices.
_WORDS = re.compile(f"((?:{_one_of(ALLOWED_CHARACTERS)})++)")
_NON_ASCII_WORD_CHAR = re.compile(_one_of(char for char in ALLOWED_CHARACTERS if not char.isascii()))
DEFAULT_WORDS = frozenset(word.lower() for word in read_wordlist(get_complete_path_of_file("profanity_wordlist.txt")))
MAX_LOOKAHEAD = max(1, *(sum(char not in ALLOWED_CHARACTERS for char in word) for word in DEFAULT_WORDS))
# With a window of one, better-profanity's carried window empties at every other word; the
# recomputed window used here would then disagree (see the module docstring).
assert MAX_LOOKAHEAD >= 2, "the default word list changed: check the look-ahead emulation"


class ProfanityCensor:
    """better-profanity's default list plus `extra_words`, as `Profanity.add_censor_words(extra_words)`
    would add them (as given, not lowered, without widening the look-ahead)."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        words = DEFAULT_WORDS | frozenset(extra_words)
        self._fine = _Keys(words, _FINE)
        self._coarse = _Keys(words, _COARSE)

    def censor(self, text: str) -> str:
        index = self._coarse if "*" in text else self._fine
        keys = _keys(text, index)
        # A change needs a word that is a swear word, or one that starts a phrase: glued to the
        # next word or followed by a separator, it still begins a key. This clears most messages.
        if (
            index.by_key.keys().isdisjoint(keys)
            and index.spaced_starts.isdisjoint(keys)
            and index.prefixes.isdisjoint(map(add, keys, keys[1:]))
        ):
            return text
        # [leading separators, word, separator, word, ..., word, trailing separators]
        parts = _WORDS.split(text)
        if len(parts[0]) >= len(text) - 1:
            return text
        lowered = " ".join(parts[1::2]).lower()
        return _censor_parts(index, parts, lowered.split(" "), lowered.translate(index.table).split(" "))

    def contains_profanity(self, text: str) -> bool:
        """As better-profanity defines it: censoring changes the text."""
        return self.censor(text) != text


def _keys(text: str, index: _Keys) -> list[str]:
    """The keys of the text's words, lowered as better-profanity lowers each word."""
    if text.isascii():
        ascii_text = text
    elif _NON_ASCII_WORD_CHAR.search(text) is None:
        # Its non-ASCII characters all separate words, and as `?` still do.
        ascii_text = text.encode("ascii", "replace").decode("ascii")
    else:
        # One lower() over the joined words equals lowering each: a space is neither cased nor
        # case-ignorable, so it cuts the only context-dependent mapping (final sigma).
        return " ".join(_WORDS.findall(text)).lower().translate(index.table).split(" ")
    # ASCII lowers character by character, and the table turns every separator into a space.
    return ascii_text.lower().translate(index.ascii_table).split()


def _censor_parts(index: _Keys, parts: list[str], lowered: list[str], keys: list[str]) -> str:
    """Censors the words (`parts[2 * at + 1]`) in place, as better-profanity walks them."""
    count = len(keys)
    # A one-character word that ends the text is not a "next word" for the look-ahead.
    lookahead_end = count if parts[-1] or len(parts[-2]) > 1 else count - 1
    at = 0
    while at < count:
        key = keys[at]
        if key in index.prefixes:
            # The first step of a phrase, cheaply: the next word glued on still begins a key, or
            # a separator may.
            if at + 1 < lookahead_end and (key in index.spaced_starts or key + keys[at + 1] in index.prefixes):
                end = _phrase_end(index, parts, at, min(at + MAX_LOOKAHEAD + 1, lookahead_end), lowered, keys)
                if end is not None:
                    # From the word to the end of the phrase, separators included, but not the
                    # separators after it. A phrase ending the text ends the output with it.
                    parts[2 * at + 1] = REPLACEMENT
                    parts[2 * at + 2 : 2 * end + 2] = [""] * (2 * (end - at))
                    at = end + 1
                    continue
            if index.is_swear_word(lowered[at], key):
                parts[2 * at + 1] = REPLACEMENT
        at += 1
    return "".join(parts)


def _phrase_end(index: _Keys, parts: list[str], at: int, stop: int, lowered: list[str], keys: list[str]) -> int | None:
    """The first next word (before `stop`) that makes a swear word when glued to the word `at`
    without the separators between or with them."""
    # An empty string marks a chain that left the prefix keys: it can only grow into non-matches.
    glued = spaced = lowered[at]
    glued_key = spaced_key = keys[at]
    for end in range(at + 1, stop):
        if glued:
            glued += lowered[end]
            glued_key += keys[end]
            if glued_key not in index.prefixes:
                glued = ""
            elif index.is_swear_word(glued, glued_key):
                return end
        if spaced:
            piece = (parts[2 * end] + parts[2 * end + 1]).lower()
            spaced += piece
            spaced_key += piece.translate(index.table)
            if spaced_key not in index.prefixes:
                spaced = ""
            elif index.is_swear_word(spaced, spaced_key):
                return end
        if not (glued or spaced):
            return None
    return None


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
