"""The web's send path with the socket's known rooms against a database query per send for
membership (as before), in the same process, through the real consumer (in-process socket, real
Redis channel layer, Kafka and PostgreSQL). Needs `make services`; makes a database of its own
and drops it after, and deletes its namespace's topics and Redis keys.

Each round sends N messages one after another (each waits for its `message.ack`) in one mode;
rounds alternate between the modes, so that drift on a shared machine falls on both alike. The
figures are medians over rounds, per send: wall time, and the process's CPU time (all its threads:
the ORM's thread and librdkafka's too). Then the membership check alone, and moderation's send
check (a sanction query per send) beside it, for scale.

Run: `.venv/bin/python bench/send_path.py [--sends N] [--rounds N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("ECHOSTREAM_NAMESPACE", f"bench-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")
os.environ.setdefault("RATE_LIMIT_BURST", "1000000")

from tests import databases

SERVER = databases.database_server(os.environ.get("DATABASE_URL", "postgres://echostream@127.0.0.1:5432/echostream"))
DATABASE = databases.new_database_name()
os.environ["DATABASE_URL"] = databases.database_url(SERVER, DATABASE)

import django  # noqa: E402

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from chat import handlers, services  # noqa: E402
from chat.models import Membership, Room  # noqa: E402
from echostream.consumer import ChatConsumer  # noqa: E402
from echostream.core import kafka, mongo, redis  # noqa: E402
from moderation.services import check_send_allowed  # noqa: E402


async def _never_learn(connection: Any, room_id: str, *, known: bool) -> None:
    return None


def database_mode(on: bool) -> None:
    """On: every send asks the database, as before the known rooms (no hit, and no re-sync)."""
    if on:
        ChatConsumer.member_of = lambda self, room_id: False  # type: ignore[method-assign]
        handlers._learn_room = _never_learn  # type: ignore[assignment]
    else:
        ChatConsumer.member_of = KNOWN_MEMBER_OF  # type: ignore[method-assign]
        handlers._learn_room = LEARN_ROOM  # type: ignore[assignment]


KNOWN_MEMBER_OF, LEARN_ROOM = ChatConsumer.member_of, handlers._learn_room


async def one_round(communicator: WebsocketCommunicator, room_id: str, sends: int) -> tuple[float, float]:
    """Wall and CPU milliseconds per send over `sends` acknowledged sends."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(sends):
        client_id = uuid.uuid4().hex
        await communicator.send_json_to({"type": "message.send", "room": room_id, "client_id": client_id, "body": "hi"})
        while (answer := await communicator.receive_json_from(timeout=30))["type"] != "message.ack":
            if answer["type"] in ("message.rejected", "error"):
                raise RuntimeError(f"send not acknowledged: {answer}")
    return (time.perf_counter() - wall) / sends * 1000, (time.process_time() - cpu) / sends * 1000


async def per_call_ms(call: Callable[[], Awaitable[Any]], calls: int) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        await call()
    return (time.perf_counter() - wall) / calls * 1000, (time.process_time() - cpu) / calls * 1000


def line(name: str, timings: list[tuple[float, float]], unit: str = "send") -> tuple[float, float]:
    wall, cpu = statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)
    print(f"{name:<44} wall {wall:7.3f} ms/{unit}   cpu {cpu:7.3f} ms/{unit}")
    return wall, cpu


async def main(sends: int, rounds: int) -> None:
    await sync_to_async(kafka.ensure_inbound_topic)()
    user = await sync_to_async(get_user_model().objects.create_user)(username="sender", password="x")
    room = await Room.objects.acreate(name="bench")
    await Membership.objects.acreate(room=room, user=user)
    user_id = str(user.pk)

    communicator = WebsocketCommunicator(ChatConsumer(), "/ws/")
    communicator.scope["user"] = user
    assert (await communicator.connect(timeout=30))[0]
    await one_round(communicator, room.id, 20)  # warm-up: connections, producer, ORM thread
    timings: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    try:
        for n in range(rounds * 2):
            asks_database = n % 2 == 1
            database_mode(asks_database)
            timings[asks_database].append(await one_round(communicator, room.id, sends))
    finally:
        database_mode(False)
        await communicator.disconnect()

    print(f"{rounds} rounds of {sends} acknowledged sends in each mode (medians over rounds):")
    asked = line("membership asked of the database (before)", timings[True])
    known = line("membership from the socket's known rooms", timings[False])
    print(f"{'ratio before / now':<44} wall {asked[0] / known[0]:6.2f}x           cpu {asked[1] / known[1]:6.2f}x")

    calls = sends * rounds
    print(f"\nthe checks alone, {calls} calls each:")
    line(
        "check_member, database asked",
        [await per_call_ms(lambda: services.check_member(user_id=user_id, room_id=room.id, known_member=False), calls)],
        "call",
    )
    line(
        "check_member, known",
        [await per_call_ms(lambda: services.check_member(user_id=user_id, room_id=room.id, known_member=True), calls)],
        "call",
    )
    sanctions = await per_call_ms(lambda: check_send_allowed(user_id, room.id), calls)
    line("moderation check_send_allowed (sanctions)", [sanctions], "call")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    databases.create_database(SERVER, DATABASE)
    try:
        call_command("migrate", verbosity=0)

        async def measured() -> None:
            try:
                await main(args.sends, args.rounds)
            finally:
                await get_channel_layer().close_pools()
                await redis.delete_namespace_keys()
                await redis.client().aclose()
                await mongo.close()

        asyncio.run(measured())
    finally:
        connections.close_all()
        kafka.delete_namespace_topics()
        databases.drop_database(SERVER, DATABASE)


if __name__ == "__main__":
    run()
