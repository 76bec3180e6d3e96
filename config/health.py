"""Liveness of the parts the platform needs: database, broker (with its queue depths) and at least one worker."""

import os
import time

from django.conf import settings
from django.db import connection

from .celery import app as celery_app


def _timed(check) -> dict:
    started = time.monotonic()
    try:
        detail = check() or {}
        status = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the type is reported
        detail = {"error": type(exc).__name__}
        status = "down"
    return {"status": status, "ms": round((time.monotonic() - started) * 1000, 1), **detail}


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def check_broker() -> dict:
    transport_options = celery_app.conf.broker_transport_options or {}
    with celery_app.connection_for_write() as conn:
        transport = conn.transport.driver_type
        if transport == "filesystem":
            folder = transport_options.get("data_folder_out", "")
            if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
                raise FileNotFoundError(folder)
        else:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"transport": transport, "queues": queue_depths(conn)}


def queue_depths(conn) -> dict[str, int]:
    """Messages waiting in each workload's queue (``CELERY_QUEUES_BY_WORKLOAD``), not counting those a worker holds.

    kombu's virtual transports (Redis, the embedded filesystem broker) count a queue with
    ``Channel._size``; a passive declare would answer "not found" on Redis for a queue no worker
    has declared yet, which is a depth of zero, not an error.
    """
    channel = conn.default_channel  # opening a channel also proves the broker answers
    return {name: int(channel._size(name)) for name in settings.CELERY_QUEUES_BY_WORKLOAD}


def check_workers(timeout: float = 1.0) -> dict:
    replies = celery_app.control.ping(timeout=timeout, limit=1)
    if not replies:
        raise RuntimeError("no worker answered")
    return {"workers": sorted(name for reply in replies for name in reply)}


def health_report() -> tuple[bool, dict]:
    report = {"database": _timed(check_database), "broker": _timed(check_broker)}
    if report["broker"]["status"] == "ok":
        report["worker"] = _timed(lambda: check_workers(settings.HEALTHZ_WORKER_TIMEOUT))
    else:
        report["worker"] = {"status": "unknown", "error": "broker down"}
    healthy = all(part["status"] == "ok" for part in report.values())
    return healthy, report
