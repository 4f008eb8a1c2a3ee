"""The roles outlive a restart of PostgreSQL: each renews its database connection at its own request
boundary (a socket's frame in web, a batch in moderation, an HTTP request), so the first operation
after the restart succeeds without restarting any role.

On a private PostgreSQL (tests/system/services.py), since the shared one serves other test runs;
Kafka, Redis and MongoDB are the shared ones, under a namespace of the stack's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import databases
from tests.system.client import ChatClient
from tests.system.services import Services, private_services
from tests.system.stack import Stack, private_stack

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=False, databases=[])]


@pytest.fixture(scope="module")
def postgres_private() -> Iterator[Services]:
    with private_services("postgres") as private:
        yield private


@pytest.fixture(scope="module")
def pg_stack(services: None, postgres_private: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from private_stack(
        Path(tmp_path_factory.mktemp("stack-pg-restart")),
        "pgrestart",
        DATABASE_URL=postgres_private.urls["DATABASE_URL"],
    )


def sessions_on(stack: Stack) -> int:
    """How many sessions the stack's roles hold on its database."""
    assert stack.database is not None
    with databases.connect_to_server(stack.server) as admin:
        return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [stack.database]).fetchone()[0]


async def signed_up(stack: Stack, name: str) -> ChatClient:
    client = ChatClient(stack.base_url)
    await client.signup(f"{name}{stack.port}")
    await client.connect()
    return client


async def test_http_requests_leave_no_connection_open(pg_stack: Stack):
    # Under ASGI each request runs in a thread of its own: a connection kept after it would stay
    # open until garbage collection, one more for each request.
    client = ChatClient(pg_stack.base_url)
    await client.signup(f"http{pg_stack.port}")
    try:
        for _ in range(30):
            assert (await client.http.get("/api/rooms/")).status_code == 200
        # At most the web sockets' one sync thread and the moderation worker's batches.
        assert sessions_on(pg_stack) <= 2
    finally:
        await client.close()


async def test_every_role_goes_on_after_postgres_restarts(pg_stack: Stack, postgres_private: Services):
    alice, bob = await signed_up(pg_stack, "alice"), await signed_up(pg_stack, "bob")
    try:
        room = await alice.open_dm(bob.username)
        await alice.send_message(room["id"], "before the restart")
        assert (await alice.next_frame("message.ack", timeout=30))["type"] == "message.ack"
        assert (await bob.next_frame("message.new", timeout=30))["message"]["body"] == "before the restart"
        moderation_log = pg_stack.log_path("moderation")
        logged_before = len(moderation_log.read_text())

        await postgres_private.arun("restart", "postgres")

        # The same socket: web checks the membership on a connection the restart broke.
        client_id = await alice.send_message(room["id"], "after the restart")
        ack = await alice.next_frame("message.ack", "error", timeout=30)
        assert (ack["type"], ack["client_id"]) == ("message.ack", client_id), ack
        # moderation checked it (the database again) and the bridge showed it.
        assert (await bob.next_frame("message.new", timeout=30))["message"]["body"] == "after the restart"
        # ...renewing its connection before the batch rather than failing a first check.
        assert "retrying it" not in moderation_log.read_text()[logged_before:]
        # An HTTP request too.
        rooms = await bob.http.get("/api/rooms/")
        assert rooms.status_code == 200
        assert room["id"] in {each["id"] for each in rooms.json()["rooms"]}
    finally:
        await alice.close()
        await bob.close()
