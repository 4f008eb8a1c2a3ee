"""Health, readiness and metrics for orchestrators and Prometheus.

No session, sign-in, CSRF token or throttle: probes call these often, over plain http inside the
deployment's network (settings.SECURE_REDIRECT_EXEMPT keeps them from the https redirect).
Readiness and metrics ask other systems, so they run off the event loop.
"""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from echostream.core import metrics as core_metrics
from echostream.core import metrics_server
from ops import health
from ops import metrics as ops_metrics


@csrf_exempt
@require_safe
@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse(metrics_server.ALIVE)


@csrf_exempt
@require_safe
@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    status, body = await asyncio.to_thread(health.readiness)
    # Who may read the metrics may read why a service fails; anyone else learns only which.
    trusted = core_metrics.may_read(peer=request.META.get("REMOTE_ADDR", ""), headers=request.headers)
    return JsonResponse(body if trusted else health.without_errors(body), status=status)


@csrf_exempt
@require_safe
@never_cache
async def metrics(request: HttpRequest) -> HttpResponse:
    # The access rule and the answer are echostream.core.metrics' (a worker's port answers alike);
    # the web's registry adds the consumer lag, which may ask Kafka: off the event loop.
    answer = await asyncio.to_thread(
        core_metrics.respond,
        peer=request.META.get("REMOTE_ADDR", ""),
        headers=request.headers,
        registry=ops_metrics.WEB_REGISTRY,
    )
    return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type, headers=answer.headers)
