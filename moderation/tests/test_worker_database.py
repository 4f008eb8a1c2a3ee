"""A database connection that breaks under the worker, for real: it is closed, and the retry
gets a new one. (Run in its own process on a file database: the tests' in-memory SQLite
database would vanish with its connection, so Django never closes it.)"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import threading
from django.contrib.auth import get_user_model
from django.db import connection
from chat.models import Membership, Room
from echostream.core import events
from moderation import worker

user = get_user_model().objects.create_user(username="dropped", password="x")
room = Room.objects.create(name="g")
Membership.objects.create(room=room, user=user)
event = events.MessageSubmitted(
    id=events.message_id_for(room_id=room.pk, sender_id=str(user.pk), client_id="c"), room=room.pk,
    occurred_at=events.now(), actor=str(user.pk),
    data=events.SubmittedData(client_id="c", body="hello", sender="dropped"),
)
# The DB-API connection dies under Django, as a PostgreSQL connection does when the server drops it.
connection.connection.close()
worker.RETRY_SECONDS = 0.05
stop = threading.Event()
deadline = threading.Timer(60, stop.set)  # gives up, rather than hangs, when the retry never recovers
deadline.start()
try:
    print("verdict:", type(worker._checked(event, stop=stop)).__name__)
except worker.Abandoned:
    print("abandoned: the retry never recovered")
finally:
    deadline.cancel()
"""


def test_a_broken_database_connection_is_closed_and_the_check_retried(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True, timeout=600)
    done = subprocess.run(
        [*manage, "shell", "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert "verdict: Accepted" in done.stdout, done.stdout + done.stderr
    assert "retrying it" in done.stderr
