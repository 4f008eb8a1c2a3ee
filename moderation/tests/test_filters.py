"""Each filter alone, as a pure function of text, rules and context; then the pipeline's fold."""

from __future__ import annotations

import pytest

from moderation import filters, rules
from moderation.filters import Censor, Context, Flag, Pass, Reject
from moderation.models import Action, RoomPolicy

NONE = Context()


class FakeCensor:
    """Masks "darn": the filters' tests need not know the real word list."""

    def censor(self, text: str) -> str:
        return text.replace("darn", "****")


def make(*, phrases: tuple[tuple[str, bool], ...] = (), **policy: object) -> rules.Rules:
    patterns = tuple(
        rules.BannedPattern(label=text, pattern=rules.compile_banned(text, is_pattern=is_pattern))
        for text, is_pattern in phrases
    )
    return rules.rules_of(RoomPolicy(**policy), banned_patterns=patterns, profanity_censor=FakeCensor())


# --- length


def test_a_text_within_the_length_passes():
    assert filters.check_length("x" * 10, make(max_length=10), NONE) == Pass()


def test_an_over_long_text_is_rejected_naming_the_limit():
    verdict = filters.check_length("x" * 11, make(max_length=10), NONE)
    assert verdict == Reject("Your message was not sent: messages in this room hold at most 10 characters.")


def test_an_over_long_text_censored_is_cut_to_the_limit():
    verdict = filters.check_length("x" * 50, make(max_length=10, length=Action.CENSOR), NONE)
    assert isinstance(verdict, Censor) and len(verdict.text) == 10


# --- banned


def test_a_banned_phrase_matches_whole_words_case_blind():
    room = make(phrases=(("buy now", False),))
    assert isinstance(filters.check_banned("please BUY NOW!", room, NONE), Reject)
    assert filters.check_banned("buy nowhere", room, NONE) == Pass()


def test_a_banned_phrase_rejection_quotes_what_matched():
    verdict = filters.check_banned("a Casino night", make(phrases=(("casino", False),)), NONE)
    assert verdict == Reject("Your message was not sent: “Casino” is not allowed in this room.")


def test_a_banned_pattern_censored_is_masked():
    verdict = filters.check_banned("call 555-1234 now", make(phrases=((r"\d{3}-\d{4}", True),), banned="censor"), NONE)
    assert verdict == Censor("call **** now")


def test_a_banned_pattern_flagged_names_the_rule():
    verdict = filters.check_banned("spam here", make(phrases=(("spam", False),), banned="flag"), NONE)
    assert isinstance(verdict, Flag) and verdict.rule == "banned" and "spam" in verdict.reason


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        # Passes the static check (no repeat of a repeat) yet backtracks exponentially under `re`.
        (r"(a?){26}a{26}", "a" * 26),
        # Repeats side by side: polynomial, seconds at a few hundred characters under `re`.
        (r"\w*\w*\w*\W", "a" * 400),
        (r".*.*.*z", "a" * 4000),
    ],
)
@pytest.mark.parametrize("action", [Action.REJECT, Action.CENSOR])
def test_a_pattern_that_backtracks_cannot_stall_the_filter(pattern, text, action):
    import time

    room = make(phrases=((pattern, True), ("spam", False)), banned=action)
    started = time.perf_counter()
    filters.check_banned(text, room, NONE)
    # The other patterns still apply after a pattern ran out of time.
    assert filters.check_banned(text + " spam", room, NONE) != Pass()
    assert time.perf_counter() - started < 1.0


# --- links


@pytest.mark.parametrize(
    "text",
    ["see https://evil.example.com/x", "www.evil.example.com", "go to evil.example.com/path", "EVIL.EXAMPLE.COM"],
)
def test_a_link_to_a_denied_domain_or_its_subdomain_is_rejected_naming_it(text):
    verdict = filters.check_links(text, make(denied_domains="example.com"), NONE)
    assert isinstance(verdict, Reject)
    assert "evil.example.com are not allowed in this room" in verdict.detail


def test_with_an_allow_list_only_its_domains_pass():
    room = make(allowed_domains="docs.python.org\nexample.org")
    assert filters.check_links("https://docs.python.org/3/ and http://example.org", room, NONE) == Pass()
    assert isinstance(filters.check_links("https://elsewhere.net", room, NONE), Reject)


def test_more_links_than_the_maximum_are_rejected():
    verdict = filters.check_links("a.com b.com c.com", make(max_links=2), NONE)
    assert verdict == Reject("Your message was not sent: at most 2 links per message in this room.")


def test_words_with_dots_are_not_links():
    assert filters.check_links("e.g. file.txt, v1.2 and Mr. Smith", make(max_links=0), NONE) == Pass()


def test_censoring_links_masks_only_the_bad_ones():
    room = make(denied_domains="bad.com", links="censor")
    assert filters.check_links("ok https://good.org and https://bad.com/x", room, NONE) == Censor(
        "ok https://good.org and ****"
    )


# --- flood


def test_repeats_up_to_the_limit_pass_and_the_next_is_rejected():
    room = make(flood_repeats=3, flood_window_seconds=60)
    assert filters.check_flood("hi", room, Context(repeats=3)) == Pass()
    verdict = filters.check_flood("hi", room, Context(repeats=4))
    assert isinstance(verdict, Reject) and "more than 3 times within 60 seconds" in verdict.detail


def test_an_edit_is_not_counted_as_a_repeat():
    assert filters.check_flood("hi", make(flood_repeats=1), Context(is_edit=True)) == Pass()


def test_normalising_folds_case_spacing_and_compatible_forms():
    fullwidth = "\uff48\uff45\uff4c\uff4c\uff4f world"
    assert filters.normalised("  Hello\tWORLD ") == filters.normalised("hello world") == filters.normalised(fullwidth)


# --- capitals


def test_shouting_is_rejected():
    verdict = filters.check_capitals("WHY IS NOBODY ANSWERING ME", make(), NONE)
    assert isinstance(verdict, Reject) and "capitals" in verdict.detail


def test_short_shouts_and_text_without_case_pass():
    assert filters.check_capitals("OK LOL", make(), NONE) == Pass()
    assert filters.check_capitals("你好你好你好你好你好你好你好 OK", make(), NONE) == Pass()


def test_shouting_censored_is_lowered():
    assert filters.check_capitals("STOP DOING THAT NOW", make(capitals="censor"), NONE) == Censor("stop doing that now")


# --- profanity


def test_profanity_is_censored_by_default():
    assert filters.check_profanity("oh darn it", make(), NONE) == Censor("oh **** it")


def test_profanity_may_be_refused_instead():
    assert isinstance(filters.check_profanity("oh darn", make(profanity="reject"), NONE), Reject)


def test_an_allowed_rule_does_nothing():
    assert filters.check_profanity("oh darn", make(profanity="allow"), NONE) == Pass()


def test_the_real_censor_masks_a_default_swear_word_and_an_added_one():
    censor = rules.ProfanityCensor(extra_words=["frobnicate"])
    assert censor.censor("shit happens") == "**** happens"
    assert censor.censor("do not frobnicate") == "do not ****"


# --- the pipeline


def test_censors_fold_and_each_filter_sees_the_text_the_ones_before_left():
    room = make(phrases=(("spam", False),), banned="censor", capitals="censor")
    outcome = filters.run("SPAM AND DARN AND MORE WORDS", room, NONE)
    assert (outcome.text, outcome.censored, outcome.rejected) == ("**** and **** and more words", True, None)


def test_the_first_rejection_ends_the_pipeline():
    seen = []

    def spy(text, rules, context):
        seen.append(text)
        return Pass()

    outcome = filters.run("x" * 20, make(max_length=5), NONE, filters=(filters.check_length, spy))
    assert outcome.rejected is not None and seen == []


def test_flags_are_collected_and_the_message_delivered():
    room = make(links="flag", capitals="flag")
    outcome = filters.run("LOOK AT THIS SITE NOW: spam.com", room, NONE)
    assert outcome.rejected is None and outcome.text == "LOOK AT THIS SITE NOW: spam.com"
    assert [flag.rule for flag in outcome.flags] == ["capitals"]


@pytest.mark.parametrize(
    "text",
    [
        "a" * 100_000,
        "\u0000\u202e\ud7ff\U0010ffff" * 5_000,
        "a" * 50_000 + "!",
        "http://" + "a." * 30_000,
        "\uff21" * 30_000,  # fullwidth capitals
    ],
)
def test_hostile_text_gets_an_outcome(text):
    room = make(phrases=((r"a+b", True), ("x", False)), max_length=200_000, length="allow")
    assert isinstance(filters.run(text, room, Context(repeats=1)), filters.Outcome)
