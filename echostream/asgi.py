import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "echostream.settings")
# Django must be set up before the consumer's imports touch the models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from echostream.origin import OriginValidator  # noqa: E402
from echostream.routing import websocket_urlpatterns  # noqa: E402
from echostream.uploadlimit import UploadSizeLimit  # noqa: E402

application = ProtocolTypeRouter(
    {
        # daphne serves no static files of its own; the JS client and its CSS are small.
        # Uploads over the attachment limit are refused before Django reads their bodies.
        "http": UploadSizeLimit(ASGIStaticFilesHandler(django_asgi_app)),
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
