import asyncio
import logging
import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from chat import bridge
from echostream.core import heap, metrics_server

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Consume the room topics twice: show each event to the room's members (fan-out) and store it in "
        "MongoDB (store). SIGTERM or Ctrl-C: finish the batch in hand, commit, exit 0."
    )

    def handle(self, *args: object, **options: object) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # A log line like the others, not a line of its own on stdout.
        logger.info("kafka_bridge: running (Ctrl-C to stop)")
        heap.freeze_startup_heap()
        port = metrics_server.serve(role="bridge", port=settings.BRIDGE_METRICS_PORT)
        try:
            await bridge.run(stop)
        finally:
            if port is not None:
                await asyncio.to_thread(port.close)
