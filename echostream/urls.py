from django.contrib import admin
from django.urls import include, path

from chat.urls import api_urlpatterns as chat_api
from chat.urls import page_urlpatterns as chat_pages
from moderation.urls import api_urlpatterns as moderation_api
from presence import api as presence_api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(chat_api)),
    path("api/", include(moderation_api)),
    path("api/users/", presence_api.users),
    path("", include("ops.urls")),
    path("", include(chat_pages)),
]
