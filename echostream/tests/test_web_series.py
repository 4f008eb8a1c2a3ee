"""The web process shows its series from the start, at zero, so that a dashboard sees 0 sockets
rather than no data; a worker process shows none of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRAPE = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")
{load}
from prometheus_client import REGISTRY, generate_latest
print(generate_latest(REGISTRY).decode())
"""


def exposition(load: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRAPE.format(load=load)], cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_the_web_process_shows_its_series_at_zero_before_any_socket():
    text = exposition("import echostream.asgi")
    assert 'echostream_connected_sockets{role="web"} 0.0' in text
    assert 'echostream_messages_in_total{role="web"} 0.0' in text
    assert 'echostream_send_ack_seconds_count{role="web"} 0.0' in text
    assert 'echostream_messages_out_total{role="web",type="message.new"} 0.0' in text


def test_a_worker_process_shows_none_of_the_webs_series():
    text = exposition("django.setup(); import moderation.worker, chat.bridge")
    assert 'role="web"' not in text
