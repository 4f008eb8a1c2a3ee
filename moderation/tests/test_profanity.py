"""moderation.profanity against better-profanity itself: hand-picked cases, then differential
property tests on generated text. Pure unit tests (no services).

better-profanity takes milliseconds per word, so generated texts stay short and the example
counts moderate; `PROFANITY_EXAMPLES=20000` runs the big differential batch."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
from better_profanity import Profanity, profanity
from better_profanity.constants import ALLOWED_CHARACTERS
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from moderation import profanity as fast

EXAMPLES = int(os.environ.get("PROFANITY_EXAMPLES", "500"))
DIFFERENTIAL = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

WORDLIST = sorted(fast.DEFAULT_WORDS)
ORDINARY = [
    "hello", "the", "a", "I", "is", "it", "to", "so", "as", "assume", "class", "assassin", "Scunthorpe",
    "cocktail", "grass", "pass", "shitake", "therapist", "analysis", "button", "hell0", "we'll", "don't",
    "O'Neil", "\"quoted\"", "$5", "4", "1", "@home", "e-mail", "co-op", "snake_case", "v1.2.3", "x", "s",
]  # fmt: skip
# Not word characters, though some lower() to word characters (ǅ -> ǆ) or have cases (Georgian Ა).
SEPARATORS = [
    " ", "  ", ", ", ".", "!", "-", "_", "\n", "\t", "...", "?!", " - ", "", "🙂", "—", "·", "。", "\u200b", "ǅ", "Ა",
]  # fmt: skip
# Characters whose lower() is context dependent (Σ), longer (İ), or ASCII from non-ASCII (Kelvin K).
TRICKY = ["Σ", "ς", "İ", "\u212a", "ß", "é", "ё", "Ǆ", "\u0301", "ﬀ", "\uff11", "🙂", "*", "@", "$", "'", '"', "7", "0"]


@pytest.fixture(autouse=True, scope="module")
def default_wordlist() -> Iterator[None]:
    """better-profanity's global instance with its default list, as every comparison assumes."""
    profanity.load_censor_words()
    assert profanity.MAX_NUMBER_COMBINATIONS == fast.MAX_LOOKAHEAD
    yield
    profanity.load_censor_words()


def leet(word: str, rng: random.Random) -> str:
    return "".join(rng.choice(fast.CHARS_MAPPING.get(char, (char,))) for char in word)


def mixed_case(word: str, rng: random.Random) -> str:
    return "".join(char.upper() if rng.random() < 0.3 else char for char in word)


@st.composite
def chat_words(draw: st.DrawFn) -> str:
    rng = draw(st.randoms(use_true_random=False))
    kind = draw(st.sampled_from(["ordinary", "bad", "leet", "contains", "unicode", "tricky"]))
    if kind == "ordinary":
        word = draw(st.sampled_from(ORDINARY))
    elif kind == "bad":
        word = draw(st.sampled_from(WORDLIST))
    elif kind == "leet":
        word = leet(draw(st.sampled_from(WORDLIST)), rng)
    elif kind == "contains":
        word = draw(st.sampled_from(["x", "un", "s", "a", "é"])) + draw(st.sampled_from(WORDLIST))
        word += draw(st.sampled_from(["", "s", "ing", "y", "1"]))
    elif kind == "unicode":
        word = draw(st.text(min_size=1, max_size=6))
    else:
        word = draw(st.sampled_from(WORDLIST)) + draw(st.sampled_from(TRICKY))
    return mixed_case(word, rng) if draw(st.booleans()) else word


@st.composite
def chat_texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(chat_words(), max_size=8))
    text = draw(st.sampled_from(["", " ", "!", "x", "🙂 "]))
    for word in words:
        text += word + draw(st.sampled_from(SEPARATORS))
    return text if draw(st.booleans()) else text.rstrip()


@st.composite
def phrases(draw: st.DrawFn) -> str:
    """Listed words with separators (multi-word phrases, `f.u.c.k`, `sh!t`) re-spaced and in context."""
    rng = draw(st.randoms(use_true_random=False))
    phrase = draw(st.sampled_from([word for word in WORDLIST if any(c in word for c in " -._!+")]))
    for separator in " -._!+":
        phrase = phrase.replace(separator, draw(st.sampled_from([separator, " ", "  ", "-", "", "/"])))
    if draw(st.booleans()):
        phrase = leet(phrase, rng)
    before = draw(st.sampled_from(["", "oh ", "a ", "x.", "🙂"]))
    after = draw(st.sampled_from(["", "!", " now", " a", " x", ".", " you too"]))
    return before + mixed_case(phrase, rng) + after


CASES = [
    ("", ""),
    ("   ", "   "),
    ("!?", "!?"),
    ("a", "a"),
    ("shit", "****"),
    ("Shit happens", "**** happens"),
    ("sh1t", "****"),
    ("5h17!", "****!"),
    ("@ss", "****"),
    ("f*ck off", "****"),  # `fuck off` is listed: the phrase goes, and with it the text's end
    ("f*ck off!", "****!"),
    ("you a ss x", "you **** x"),  # glued without its separator, `a ss` is `ass`
    ("f.u.c.k you", "**** you"),
    ("x sh!t", "x sh!t"),  # a one-letter word ending the text is never looked ahead at
    ("x sh!t.", "x ****."),
    ("class assassin Scunthorpe cocktail", "class assassin Scunthorpe cocktail"),
    ("2 girls 1 cup now", "**** now"),
    ("p.u.s.s.y. ok", "****.y. ok"),  # `puss` is listed and found first
    ("fuc\u212a", "****"),  # the Kelvin sign lowers to `k`
    ("🙂shit🙂", "🙂****🙂"),
    ("shité", "shité"),  # é is a letter of the word
    ("shit's", "shit's"),  # so is the apostrophe
    ("shit_head now", "**** now"),  # `_` separates, and glued `shithead` is listed
    ("shit_x now", "****_x now"),
    ("shit,,  shit", "****,,  ****"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_hand_picked(text: str, expected: str):
    assert profanity.censor(text) == expected  # the cases document better-profanity itself
    assert fast.censor(text) == expected


def test_word_characters_are_better_profanitys():
    everything = "".join(map(chr, range(0x110000)))  # surrogates included
    assert set("".join(fast._WORDS.split(everything)[1::2])) == ALLOWED_CHARACTERS


def test_separators_never_lower_to_ascii_word_characters():
    """What `spaced_starts` relies on: a separator's first character, lowered, is never one the
    key tables translate."""
    for char in map(chr, range(0x110000)):
        if char not in ALLOWED_CHARACTERS:
            first = char.lower()[0]
            assert not (first.isascii() and first in ALLOWED_CHARACTERS), hex(ord(char))


@settings(max_examples=EXAMPLES * 4, deadline=None)
@given(st.one_of(chat_texts(), st.text()))
def test_shortcut_keys_are_the_words_keys(text: str):
    for index in (fast._DEFAULT._fine, fast._DEFAULT._coarse):
        exact = " ".join(fast._WORDS.findall(text)).lower().translate(index.table).split(" ")
        assert fast._keys(text, index) == [key for key in exact if key]


def test_same_chars_mapping():
    assert fast.CHARS_MAPPING == Profanity().CHARS_MAPPING


def test_contains_profanity():
    assert fast.contains_profanity("what the shit")
    assert not fast.contains_profanity("what the class")
    assert fast.contains_profanity("x sh!t") == profanity.contains_profanity("x sh!t") is False


def test_every_listed_word_and_a_leet_variant():
    rng = random.Random(7)
    for word in WORDLIST:
        for text in (f"{word} ok", f"ok {leet(word, rng).upper()}!"):
            assert fast.censor(text) == profanity.censor(text), text


@DIFFERENTIAL
@given(chat_texts())
def test_differential_chat(text: str):
    expected = profanity.censor(text)
    event("censored" if expected != text else "unchanged")  # --hypothesis-show-statistics shows the mix
    assert fast.censor(text) == expected


@DIFFERENTIAL
@given(phrases())
def test_differential_phrases(text: str):
    expected = profanity.censor(text)
    event("censored" if expected != text else "unchanged")
    assert fast.censor(text) == expected


# Fragments of listed words and phrases, so that swear words, their variants, glued and spaced
# phrases and near misses come up often.
FRAGMENTS = [
    "shit", "fuck", "ass", "sh1t", "f*ck", "@ss", "sh", "it", "fu", "ck", "a", "ss", "s", "h", "i", "t", "f", "u", "c",
    "k", "@", "*", "1", "$", "5", "7", "hole", "girls", "cup", "2", "job", "hand", "Σ", "\u212a", "İ", "🙂",
]  # fmt: skip
DENSE = st.lists(
    st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(["", "", " ", "  ", "-", ".", "_", "!", "+", "'", ", "])),
    max_size=12,
).map(lambda pieces: "".join(fragment + separator for fragment, separator in pieces))


@DIFFERENTIAL
@given(DENSE)
def test_differential_dense(text: str):
    expected = profanity.censor(text)
    event("censored" if expected != text else "unchanged")
    assert fast.censor(text) == expected


@DIFFERENTIAL
@given(st.text(max_size=40))
def test_differential_any_text(text: str):
    assert fast.censor(text) == profanity.censor(text)


@settings(max_examples=max(EXAMPLES // 3, 50), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            chat_words(),
            phrases(),
            st.sampled_from(["Fück", "ΣΣ", "zorg", "a b c d e f g", "ǆ", "fooǆbar", "foo ǆbar", "z*rg", "@"]),
        ),
        max_size=4,
    ),
    chat_texts(),
)
def test_differential_extra_words(extra: list[str], text: str):
    reference = Profanity()
    reference.add_censor_words(extra)
    # The moderators' words are likely in the text: put some in.
    text = " ".join([text, *extra[:2]])
    assert fast.censor_with(text, extra) == fast.ProfanityCensor(extra).censor(text) == reference.censor(text)


def test_extra_words_as_better_profanity_adds_them():
    reference = Profanity()
    reference.add_censor_words(["zorg", "Blarg", "foo bar"])
    for text in ["zorg!", "z0rg", "Blarg", "blarg", "foo bar x", "foo  bar x", "foobar x"]:
        assert fast.censor_with(text, ["zorg", "Blarg", "foo bar"]) == reference.censor(text), text
    assert fast.censor_with("zorg x", []) == "zorg x"


@pytest.mark.parametrize(
    "text",
    [
        "fooǆbar x", "fooǅbar x", "foo ǅbar x", "FOO ǅBAR x", "fooᾈbar",  # a separator lowered to a word character
        "z*rg!", "z0rg", "*** zorg ***", "@ @ x", "x @",  # `*` takes the coarse keys
    ],
)  # fmt: skip
def test_extra_words_with_unusual_characters(text: str):
    extra = ["fooǆbar", "foo ǆbar", "zorg", "@", "ǆ"]
    reference = Profanity()
    reference.add_censor_words(extra)
    assert fast.censor_with(text, extra) == reference.censor(text)
