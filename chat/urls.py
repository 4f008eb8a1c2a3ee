from django.urls import path

from chat import api, views

api_urlpatterns = [
    path("auth/csrf/", api.csrf),
    path("auth/signup/", api.signup),
    path("auth/login/", api.login_view),
    path("auth/logout/", api.logout_view),
    path("me/", api.me),
    path("rooms/", api.rooms),
    path("rooms/<str:room_id>/members/", api.add_member),
    path("rooms/<str:room_id>/members/<str:username>/", api.remove_member),
    path("rooms/<str:room_id>/messages/", api.messages),
    path("rooms/<str:room_id>/attachments/", api.upload_attachment),
    path("attachments/<str:attachment_id>/", api.attachment_file),
    path("attachments/<str:attachment_id>/thumbnail/", api.attachment_thumbnail),
    path("dms/", api.open_dm),
]

page_urlpatterns = [
    path("", views.chat_page, name="chat"),
    path("rooms/<str:room_id>/", views.chat_page, name="room"),
    path("signup/", views.signup_page, name="signup"),
    path("login/", views.LoginPage.as_view(), name="login"),
    path("logout/", views.logout_page, name="logout"),
]
