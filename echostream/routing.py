from django.urls import path

from echostream.consumer import ChatConsumer

websocket_urlpatterns = [path("ws/", ChatConsumer.as_asgi())]
