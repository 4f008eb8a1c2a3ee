"""A database connection that breaks under the worker, for real: PostgreSQL ends the session (as a
restart of the server does), the check fails, the broken connection is closed and the retry gets a
new one."""

import logging
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from chat.models import Membership, Room
from echostream.core import events
from moderation import worker
from moderation.selectors import Lookups
from tests import databases

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ends a PostgreSQL session from the server's side"
)


SESSION_ENDED = ("terminating connection", "connection socket closed", "server closed the connection")


def end_session(backend_pid: int) -> None:
    """What a restart does to the worker's session, without a restart (the tests share the server)."""
    with databases.connect_to_server(databases.database_server()) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [backend_pid]).fetchone() == (True,)


def test_a_session_the_server_ended_is_closed_and_the_check_retried(transactional_db, services, monkeypatch, caplog):
    user = get_user_model().objects.create_user(username="dropped", password="x")
    room = Room.objects.create(name="g")
    Membership.objects.create(room=room, user=user)
    event = events.MessageSubmitted(
        id=events.message_id_for(room_id=room.pk, sender_id=str(user.pk), client_id="c"),
        room=room.pk,
        occurred_at=events.now(),
        actor=str(user.pk),
        data=events.SubmittedData(client_id="c", body="hello", sender="dropped"),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        end_session(cursor.fetchone()[0])
    monkeypatch.setattr(worker, "RETRY_SECONDS", 0.05)
    stop = threading.Event()
    # Gives up, rather than hangs, when the retry never recovers.
    deadline = threading.Timer(60, stop.set)
    deadline.start()
    try:
        with caplog.at_level(logging.WARNING, logger=worker.__name__):
            verdict = worker._checked(event, stop=stop, lookups=Lookups())
    finally:
        deadline.cancel()

    assert isinstance(verdict, worker.services.Accepted)
    # It failed first, for the session's end (and nothing else), then recovered. How psycopg words
    # the end depends on whether it read the server's goodbye before it saw the socket close.
    retries = [r.getMessage() for r in caplog.records if "retrying it" in r.getMessage()]
    assert retries and all(any(end in retry for end in SESSION_ENDED) for retry in retries), caplog.text
