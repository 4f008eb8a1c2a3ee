import asyncio
import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from chat import projection
from replay import services

# Events read between updates of the progress bar: once per event would cost more than the event.
PROGRESS_STEP = 100


class Command(BaseCommand):
    help = (
        "Rebuild the MongoDB message history from the rooms' Kafka topics. Idempotent, and safe while "
        "the system runs: a message the live bridge has moved past is left as it is."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--room", help="rebuild one room")
        target.add_argument("--all", action="store_true", help="rebuild every room that has a topic")
        parser.add_argument("--drop", action="store_true", help="forget the stored history first")
        parser.add_argument(
            "--force", action="store_true", help="with --drop: also for rooms whose log no longer starts at seq 0"
        )

    def handle(self, *args: object, **options: object) -> None:
        rooms = services.rooms_in_log()
        if options["room"]:
            if options["room"] not in rooms:
                raise CommandError(f"room {options['room']!r} has no topic in Kafka; nothing to rebuild it from.")
            rooms = [str(options["room"])]
        bounds = {room_id: services.room_bounds(room_id) for room_id in rooms}
        truncated = [room_id for room_id, (oldest, _) in bounds.items() if oldest > 0]
        if options["drop"] and truncated and not options["force"]:
            raise CommandError(
                f"the logs of {', '.join(truncated)} no longer start at seq 0 (retention), so --drop would lose "
                "the messages only MongoDB still has. Rebuild without --drop, or add --force."
            )
        asyncio.run(self._rebuild(bounds, drop=bool(options["drop"]), one_room=options["room"]))

    async def _rebuild(self, bounds: dict[str, tuple[int, int]], *, drop: bool, one_room: object) -> None:
        if drop:
            await projection.do_drop_history(room_id=str(one_room) if one_room else None)
        written = 0
        conflicts: dict[str, int] = {}
        total = sum(end - oldest for oldest, end in bounds.values())
        with tqdm(total=total, unit="event", file=sys.stderr, desc="rebuilding") as progress:

            def read(room_id: str) -> list[services.LoggedEvent]:
                oldest, end = bounds[room_id]
                logged = []
                for entry in services.room_events(room_id, start=oldest, end=end):
                    logged.append(entry)
                    if len(logged) % PROGRESS_STEP == 0:
                        progress.update(PROGRESS_STEP)
                progress.update(len(logged) % PROGRESS_STEP)
                return logged

            rooms = list(bounds)
            # The next room's log is read (Kafka, in a thread) while this room's messages are
            # written (MongoDB): neither waits for the other.
            reading: dict[str, asyncio.Future[list[services.LoggedEvent]]] = {}
            for room_id, next_room in zip(rooms, [*rooms[1:], None], strict=True):
                if room_id not in reading:
                    reading[room_id] = asyncio.ensure_future(asyncio.to_thread(read, room_id))
                if next_room is not None:
                    reading[next_room] = asyncio.ensure_future(asyncio.to_thread(read, next_room))
                logged = await reading.pop(room_id)
                messages = services.fold_room(logged)
                stored, refused = await projection.do_store_rebuilt(messages=messages)
                written += stored
                if refused:
                    conflicts[room_id] = len(refused)
        self.stdout.write(f"rebuilt {len(bounds)} room(s): {written} message(s) written")
        for room_id, count in conflicts.items():
            self.stderr.write(
                f"room {room_id}: {count} message(s) collide with stored ones at the same seq (was its topic "
                f"re-created?); run `python manage.py rebuild_projection --room {room_id} --drop`."
            )
        if conflicts:
            raise CommandError("some rooms could not be rebuilt; see above.")
