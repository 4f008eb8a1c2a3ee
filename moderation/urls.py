from django.urls import path

from moderation import api

api_urlpatterns = [
    path("rooms/<str:room_id>/messages/<str:message_id>/report/", api.report),
]
