"""Server-rendered pages: sign-up, sign-in, sign-out, and the chat page that loads the JS client."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from echostream.throttle import throttled


@method_decorator(throttled("signin"), name="dispatch")
class LoginPage(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


@throttled("signup")
def signup_page(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("chat")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat")
    return render(request, "registration/signup.html", {"form": form})


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


@login_required
def chat_page(request: HttpRequest, room_id: str | None = None) -> HttpResponse:
    # `/rooms/<id>/` is this page too: the client opens the room its address names. The id is
    # not looked at here, so a room the user is not in answers as an unknown one does.
    return render(
        request, "chat/chat.html", {"me": {"id": str(request.user.pk), "username": request.user.get_username()}}
    )
