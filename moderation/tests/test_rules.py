"""Reading rooms' rules from the database: which policy applies, word lists, patterns, the cache."""

from __future__ import annotations

import logging

import pytest

from chat.models import Room
from moderation import rules
from moderation.models import Action, BannedPhrase, ProfanityWord, RoomPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    rules.forget()
    yield
    rules.forget()


@pytest.fixture
def room():
    return Room.objects.create(name="g")


def test_the_site_default_row_exists_after_migrating():
    assert RoomPolicy.objects.filter(room=None).count() == 1


def test_a_room_without_a_policy_follows_the_site_default(room):
    RoomPolicy.objects.filter(room=None).update(capitals=Action.FLAG)
    assert rules.load(room_id=room.pk).capitals == Action.FLAG


def test_a_room_s_own_policy_wins(room):
    RoomPolicy.objects.filter(room=None).update(capitals=Action.FLAG)
    RoomPolicy.objects.create(room=room, capitals=Action.ALLOW)
    assert rules.load(room_id=room.pk).capitals == Action.ALLOW


def test_without_any_policy_the_built_in_defaults_apply(room):
    RoomPolicy.objects.all().delete()
    loaded = rules.load(room_id=room.pk)
    assert (loaded.profanity, loaded.links, loaded.max_length) == (Action.CENSOR, Action.REJECT, 4000)


def test_domains_are_read_one_per_line_lower_case(room):
    RoomPolicy.objects.create(room=room, denied_domains="Example.COM\n\n *.spam.net \n")
    assert rules.load(room_id=room.pk).denied_domains == {"example.com", "spam.net"}


def test_banned_phrases_of_the_site_and_of_the_room_apply_and_not_another_room_s(room):
    other = Room.objects.create(name="other")
    BannedPhrase.objects.create(text="everywhere")
    BannedPhrase.objects.create(text="here", room=room)
    BannedPhrase.objects.create(text="there", room=other)
    assert {banned.label for banned in rules.load(room_id=room.pk).banned_patterns} == {"everywhere", "here"}


@pytest.mark.parametrize("bad", ["(unclosed", "(a+)+$", "(x|xx)*y", r"(\w+)\1"])
def test_an_invalid_or_backtracking_pattern_is_skipped_and_logged(room, bad, caplog):
    BannedPhrase.objects.create(text=bad, is_pattern=True)
    BannedPhrase.objects.create(text=r"fr[e3]{2}\s+money", is_pattern=True)
    with caplog.at_level(logging.WARNING, logger="moderation.rules"):
        loaded = rules.load(room_id=room.pk)
    assert [banned.label for banned in loaded.banned_patterns] == [r"/fr[e3]{2}\s+money/"]
    assert bad in caplog.text


def test_added_profanity_words_are_censored(room):
    ProfanityWord.objects.create(word="zorblax")
    assert rules.load(room_id=room.pk).profanity_censor.censor("you zorblax") == "you ****"


def test_rules_are_kept_for_the_cache_time_then_read_again(room, settings, monkeypatch):
    settings.MODERATION_RULES_CACHE_SECONDS = 2
    now = [1000.0]
    monkeypatch.setattr(rules, "clock", lambda: now[0])
    assert rules.for_room(room_id=room.pk).capitals == Action.REJECT
    RoomPolicy.objects.create(room=room, capitals=Action.ALLOW)

    now[0] += 1.9
    assert rules.for_room(room_id=room.pk).capitals == Action.REJECT
    now[0] += 0.2
    assert rules.for_room(room_id=room.pk).capitals == Action.ALLOW
