import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")
# Django must be set up before the consumer's imports touch the models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402

from echostream.core import heap, kafka, metrics  # noqa: E402
from echostream.origin import OriginValidator  # noqa: E402
from echostream.routing import websocket_urlpatterns  # noqa: E402
from echostream.uploadlimit import UploadSizeLimit  # noqa: E402


def close_request_connections(**_: Any) -> None:
    # Under ASGI, Django runs the sync code of each HTTP request in a thread of its own that ends
    # with the request (asgiref's ThreadSensitiveContext): a connection kept for CONN_MAX_AGE would
    # never be used again, only left open on the server until garbage collection (Django's docs
    # advise no persistent connections under ASGI). The sockets' ORM calls, by contrast, all run
    # in asgiref's one long-lived sync thread, whose connection is kept and checked at each frame
    # (echostream/consumer.py).
    for connection in connections.all(initialized_only=True):
        connection.close()


# Only the web role loads this module: the workers' metrics ports show their own series alone.
metrics.declare_web_series()

request_finished.connect(close_request_connections, dispatch_uid="echostream.asgi.close_request_connections")

application = ProtocolTypeRouter(
    {
        # uvicorn serves no static files of its own; the JS client and its CSS are small.
        # Uploads over the attachment limit are refused before Django reads their bodies.
        "http": UploadSizeLimit(ASGIStaticFilesHandler(django_asgi_app)),
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

kafka.start_producer_in_background()
heap.freeze_startup_heap()
