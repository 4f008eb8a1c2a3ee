import logging
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from echostream.core import heap, metrics_server
from moderation import worker

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Consume submitted messages, check them, and publish the accepted ones to their room's topic."

    def handle(self, *args: object, **options: object) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        # A log line like the others, not a line of its own on stdout.
        logger.info("moderation_worker: running (Ctrl-C to stop)")
        heap.freeze_startup_heap()
        port = metrics_server.serve(role=worker.ROLE, port=settings.MODERATION_METRICS_PORT)
        try:
            worker.run(stop)
        finally:
            if port is not None:
                port.close()
