"""One rule hides secrets in logs, /readyz and the doctor: every form a password may take in a URL,
and the configured passwords wherever they appear."""

from __future__ import annotations

import pytest

from echostream.redaction import redacted, url_for_people


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://u:p@ss@db:5432/x", "postgres://u:***@db:5432/x"),
        ('redis://:pa"ss@redis:6379/0', "redis://:***@redis:6379/0"),
        ("mongodb://bob:secret@h1:1,h2:2/db", "mongodb://bob:***@h1:1,h2:2/db"),
        ("failed: postgres://u:pw@db/x (refused)", "failed: postgres://u:***@db/x (refused)"),
        ("redis://redis:6379/0", "redis://redis:6379/0"),
        ("no url here", "no url here"),
    ],
)
def test_the_password_of_a_url_is_masked_whole(text, expected):
    assert redacted(text) == expected


def test_a_configured_password_is_masked_wherever_it_appears(settings):
    settings.REDIS_URL = "redis://:hunter2-long@redis:6379/0"
    settings.METRICS_TOKEN = "tok-123456"
    assert redacted("auth failed for hunter2-long, token tok-123456") == "auth failed for ***, token ***"


def test_a_url_for_people_has_no_password_and_no_query():
    assert url_for_people("mongodb://bob:s@h:1/db?authSource=admin&password=x") == "mongodb://bob:***@h:1/db"
