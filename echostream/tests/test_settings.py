"""Production settings: `check --deploy` is clean, no default secret, a strict CSP."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {name: value for name, value in os.environ.items() if name not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_env():
    done = manage(
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="chat.example.com",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_without_a_secret_key_production_refuses_to_start():
    done = manage("check", DEBUG="false", ALLOWED_HOSTS="chat.example.com")
    assert done.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off. Set the SECRET_KEY environment variable" in done.stderr


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({"MODERATION_BUSY_GATHER_SECONDS": "-1"}, "MODERATION_BUSY_GATHER_SECONDS must be a number from 0 to"),
        ({"MODERATION_BUSY_GATHER_SECONDS": "30"}, "MODERATION_BUSY_GATHER_SECONDS must be between 0"),
        ({"MODERATION_BUSY_RATE": "0"}, "MODERATION_BUSY_RATE must be a number above 0 to"),
        ({"MODERATION_BUSY_RATE": "-5"}, "MODERATION_BUSY_RATE must be a number above 0 to"),
    ],
)
def test_a_moderation_gathering_out_of_range_refuses_to_start(env, refusal):
    done = manage("check", **env)
    assert done.returncode != 0
    assert refusal in done.stderr


@pytest.mark.parametrize(
    ("name", "value", "refusal"),
    [
        ("RATE_LIMIT_PER_SECOND", "nan", "a number above 0 to 1000000"),
        ("RATE_LIMIT_TYPING_PER_SECOND", "inf", "a number above 0 to 1000000"),
        ("RATE_LIMIT_EDIT_PER_SECOND", "0", "a number above 0 to 1000000"),
        ("RATE_LIMIT_EDIT_PER_SECOND", "two", "a number above 0 to 1000000"),
        ("DELIVERY_TAIL_CHECK_SECONDS", "0", "a number above 0 to 1000000"),
        ("BACKPRESSURE_MAX_WAIT_SECONDS", "-inf", "a number from 0 to 1000000"),
        ("BACKPRESSURE_WINDOW_SECONDS", "1e308", "a number from 0 to 1000000"),
        ("DATABASE_RENEW_SECONDS", "-0.5", "a number from 0 to 1000000"),
        ("MODERATION_RULES_CACHE_SECONDS", "1e3s", "a number from 0 to 1000000"),
    ],
)
def test_a_duration_or_rate_out_of_its_range_refuses_to_start(name, value, refusal):
    done = manage("check", **{name: value})
    assert done.returncode != 0
    assert f"{name} must be {refusal}" in done.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/signup/", "/api/auth/csrf/"])
def test_pages_carry_a_strict_content_security_policy(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


def test_templates_have_no_inline_scripts_or_styles():
    # The CSP refuses them; the page's data goes in a json_script block, which is not run.
    for template in (REPO / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", text), template
