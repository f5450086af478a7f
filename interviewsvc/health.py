"""Liveness and readiness probes, outside /api/v1/ and without auth."""

import logging
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse

from interviewsvc.api import error_json_response

logger = logging.getLogger("interviewsvc.health")


async def health(request):
    """The process is alive and serving; touches no backend."""
    return JsonResponse({"status": "ok"})


def _database_ping() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()


async def _channel_layer_ping() -> None:
    layer = get_channel_layer()
    if hasattr(layer, "ping"):  # Redis pub/sub: a message to itself would need a subscription
        await layer.ping()
        return
    channel = f"ready.{uuid.uuid4().hex}"
    await layer.send(channel, {"type": "ready.ping"})
    await layer.receive(channel)


async def ready(request):
    """Ready when the database and the channel layer both answer; 503 otherwise."""
    checks = {}
    for name, probe in (("database", sync_to_async(_database_ping)), ("channel_layer", _channel_layer_ping)):
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:  # any failure of a backend means "not ready", never a 500
            logger.warning("readiness check %s failed: %s", name, exc)
            checks[name] = "unavailable"
    failed = [name for name, state in checks.items() if state != "ok"]
    if failed:
        return error_json_response(
            request,
            status=503,
            error_code="service_unavailable",
            message=f"Not ready: {', '.join(failed)} unavailable.",
            errors=[{"field": name, "error": "unreachable", "type": "unavailable"} for name in failed],
            headers={"Retry-After": "5"},
        )
    return JsonResponse({"status": "ok", "checks": checks})
