import logging
import signal
import threading

from django.core.management.base import BaseCommand

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
        worker.run(stop)
