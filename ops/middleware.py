"""Health, readiness and metrics answered before any other middleware looks at the request.

An orchestrator's probe or a Prometheus scrape names the container by its address or service name
(`Host: 10.0.3.7:8000`, `Host: web:8000`), which ALLOWED_HOSTS rightly does not list: Django's
host check would answer 400 and the deployment would never become ready. Health and readiness
use nothing from the Host header, so they skip the check, as they skip sessions, CSRF and the
https redirect. /metrics keeps its own access rule (echostream.core.metrics.respond), which has a
Host check of its own in place of Django's: without a token, a Host with dots that ALLOWED_HOSTS
does not list is refused, so that a web page cannot read it through a DNS-rebound name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from ops import views

PROBE_VIEWS: dict[str, Callable[[HttpRequest], Awaitable[HttpResponse]]] = {
    "/healthz": views.healthz,
    "/readyz": views.readyz,
    "/metrics": views.metrics,
}


@sync_and_async_middleware
def answer_probes_first(get_response: Callable) -> Callable:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            view = PROBE_VIEWS.get(request.path_info)
            return await (view(request) if view is not None else get_response(request))

        return markcoroutinefunction(middleware)

    def sync_middleware(request: HttpRequest) -> HttpResponse:
        view = PROBE_VIEWS.get(request.path_info)
        return async_to_sync(view)(request) if view is not None else get_response(request)

    return sync_middleware
