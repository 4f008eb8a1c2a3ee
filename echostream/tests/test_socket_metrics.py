"""What the web counts on its sockets (in-process, real channel layer, Kafka and stores)."""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from prometheus_client import REGISTRY

from chat.models import Membership, Room
from echostream.core import events, groups, wire


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"role": "web", **labels}) or 0.0


async def test_an_open_socket_is_counted_until_it_closes(open_socket):
    before = value("echostream_connected_sockets")
    socket = await open_socket()
    assert value("echostream_connected_sockets") == before + 1
    await socket.communicator.disconnect()
    assert value("echostream_connected_sockets") == before


async def test_an_acknowledged_send_counts_in_and_its_ack_time(open_socket):
    socket = await open_socket()
    room = await sync_to_async(Room.objects.create)(name="counted")
    await sync_to_async(Membership.objects.create)(room=room, user=socket.user)
    sent, timed = value("echostream_messages_in_total"), value("echostream_send_ack_seconds_count")

    await socket.send_frame({"type": "message.send", "room": room.pk, "client_id": "c1", "body": "hello"})

    assert (await socket.answer())["type"] == "message.ack"
    assert value("echostream_messages_in_total") == sent + 1
    assert value("echostream_send_ack_seconds_count") == timed + 1


async def test_refusals_are_counted_by_reason(open_socket):
    socket = await open_socket()
    forbidden, bad_json = (
        value("echostream_rejections_total", reason="forbidden"),
        value("echostream_rejections_total", reason="invalid_json"),
    )

    answer = await socket.answer_to('{"type": "message.send", "room": "nope", "client_id": "c1", "body": "hi"}')
    assert (answer["type"], answer["reason"]) == ("message.rejected", "forbidden")
    assert (await socket.answer_to("{not json"))["code"] == "invalid_json"

    assert value("echostream_rejections_total", reason="forbidden") == forbidden + 1
    assert value("echostream_rejections_total", reason="invalid_json") == bad_json + 1


async def test_a_moderation_refusal_relayed_to_the_socket_is_not_counted_again_by_the_web(open_socket):
    socket = await open_socket()
    before = value("echostream_rejections_total", reason="moderation")
    refusal = wire.MessageRejected(client_id="c1", room="r1", reason="moderation", detail="Not here.")
    await groups.send_to_user(str(socket.user.pk), refusal)
    assert (await socket.answer())["reason"] == "moderation"
    assert value("echostream_rejections_total", reason="moderation") == before


async def test_a_live_room_frame_counts_out_and_its_delivery_time(open_socket):
    socket = await open_socket()
    out, timed = (
        value("echostream_messages_out_total", type="message.new"),
        value("echostream_event_delivery_seconds_count"),
    )
    message = wire.Message(
        id=events.new_event_id(), room="r1", seq=0, sender="someone", body="hi",
        created_at=events.now().isoformat(), client_id=None, attachments=[],
    )  # fmt: skip
    frame = wire.to_builtins(wire.MessageNew(seq=0, message=message))
    await get_channel_layer().send(
        socket.consumer.channel_name, {"type": groups.DELIVER, "frame": frame, "occurred_at": time.time()}
    )

    assert (await socket.answer())["type"] == "message.new"
    assert value("echostream_messages_out_total", type="message.new") == out + 1
    assert value("echostream_event_delivery_seconds_count") == timed + 1
