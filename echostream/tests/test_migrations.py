"""The migrations on PostgreSQL, as `make run` and a deployment apply them: from nothing, complete
(no model change without its migration), and reversible for our apps. Each on a fresh database of
its own on the configured server, through manage.py in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests import databases

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not databases.is_postgres(databases.database_server(os.environ.get("DATABASE_URL"))),
    reason="DATABASE_URL names no PostgreSQL server",
)


def manage(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=600,
    )


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {name for (name,) in rows}


def site_default_policies(url: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT count(*) FROM moderation_roompolicy WHERE room_id IS NULL").fetchone()[0]


@pytest.fixture
def fresh_database_url():
    with databases.fresh_database() as url:
        yield url


def test_migrate_from_nothing_leaves_no_model_change_without_its_migration(fresh_database_url):
    migrated = manage(fresh_database_url, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    missing = manage(fresh_database_url, "makemigrations", "--check", "--dry-run")

    assert missing.returncode == 0, f"models changed without a migration:\n{missing.stdout}{missing.stderr}"
    assert {"chat_room", "chat_membership", "auth_user"} <= tables(fresh_database_url)


def test_our_apps_migrate_to_zero_and_back(fresh_database_url):
    assert manage(fresh_database_url, "migrate", "--noinput").returncode == 0
    ours = {name for name in tables(fresh_database_url) if name.startswith(("chat_", "moderation_"))}
    assert ours, "chat and moderation have tables"

    # moderation depends on chat, so it goes first; presence, replay and ops have no models.
    for app in ("moderation", "chat"):
        down = manage(fresh_database_url, "migrate", app, "zero", "--noinput")
        assert down.returncode == 0, down.stdout + down.stderr
    assert not ours & tables(fresh_database_url)

    up = manage(fresh_database_url, "migrate", "--noinput")
    assert up.returncode == 0, up.stdout + up.stderr
    assert ours <= tables(fresh_database_url)
    # The data migration ran again too: moderators find the site's default policy in the admin.
    assert site_default_policies(fresh_database_url) == 1
