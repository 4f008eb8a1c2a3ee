import sys
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from echostream.core import events
from replay import services


def parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a time; write it as ISO 8601, e.g. 2026-11-27T14:30:00Z") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def describe(event: events.RoomEvent) -> str:
    if isinstance(event, events.MessageCreated):
        return f"{event.data.sender}: {event.data.body}"
    if isinstance(event, events.MessageEdited):
        return f"edits {event.data.message_id}: {event.data.body}"
    return f"deletes {event.data.message_id}"


class Command(BaseCommand):
    help = "Print a room's events from its Kafka topic, from a seq or from a time; progress goes to stderr."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", help="the room id")
        start = parser.add_mutually_exclusive_group()
        start.add_argument("--from-seq", type=int, help="the first seq to print (default: the oldest kept)")
        start.add_argument("--since", type=parse_time, help="print events written at or after this time (ISO 8601)")
        parser.add_argument("--until", type=parse_time, help="stop at events written after this time (ISO 8601)")
        parser.add_argument("--format", choices=["text", "jsonl"], default="text")

    def handle(self, *args: object, **options: object) -> None:
        room_id = str(options["room"])
        if room_id not in services.rooms_in_log():
            raise CommandError(
                f"room {room_id!r} has no topic in Kafka. Room ids are in the admin (/admin/chat/room/) "
                "or in GET /api/rooms/; is KAFKA_BOOTSTRAP_SERVERS (and ECHOSTREAM_NAMESPACE) the right one?"
            )
        oldest, end = services.room_bounds(room_id)
        start = oldest
        if options["from_seq"] is not None:
            start = max(int(options["from_seq"]), oldest)
            if int(options["from_seq"]) < oldest:
                self.stderr.write(f"events before seq {oldest} are past the topic's retention; starting there")
        elif options["since"] is not None:
            found = services.first_seq_at(room_id, options["since"])
            start = end if found is None else found
        until = options["until"]
        until_ms = int(until.timestamp() * 1000) if isinstance(until, datetime) else None

        with tqdm(total=max(end - start, 0), unit="event", file=sys.stderr, desc=f"room {room_id}") as progress:
            for logged in services.room_events(room_id, start=start, end=end):
                progress.update(1)
                if until_ms is not None and logged.timestamp_ms > until_ms:
                    break
                if logged.event is None:
                    continue  # malformed: the warning is in the log on stderr
                if options["format"] == "jsonl":
                    self.stdout.write(events.encode(logged.event).decode())
                else:
                    event = logged.event
                    tag = type(event).__struct_config__.tag
                    occurred = event.occurred_at.isoformat(timespec="milliseconds")
                    self.stdout.write(f"{logged.seq:>7}  {occurred}  {tag:<16}  {describe(event)}")
