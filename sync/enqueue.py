"""Publishing sync's tasks, by name on the project's Celery app, without waiting on a down broker.

Services enqueue after commit and tasks re-enqueue themselves; both come through here, so neither
imports the other. What a down broker loses here, the beat sweep (``sync.tasks.sync_sweep``) redoes.
"""

import logging
import os
import time
from pathlib import Path

from django.conf import settings
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from consortium.tasking import project_celery_app

logger = logging.getLogger(__name__)


#: Reconnect once or twice (a restarted broker), but never keep a request waiting on a dead one.
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def _enqueue(task_name: str, *args, countdown: float | None = None) -> bool:
    """Publish a task without waiting for a down broker: the beat sweep re-enqueues what is lost here.

    The task is looked up on the project's app, not through the shared-task proxy, so another
    Celery app made current elsewhere (a test's, a script's) cannot divert it.
    """
    app = project_celery_app()

    if countdown and app.conf.task_always_eager:
        return False  # eager mode cannot wait; the sweep picks the work up when it is due
    try:
        app.tasks[task_name].apply_async(args=args, countdown=countdown, retry=True, retry_policy=_PUBLISH_RETRY)
    except (OperationalError, OSError) as exc:
        logger.warning("sync: could not enqueue %s (%s); the sweep will pick it up", task_name, type(exc).__name__)
        return False
    return True


#: A pending mark older than this is taken as lost (a purged queue, a flushed broker) and replaced.
DISPATCH_MARK_SECONDS = 120
_DISPATCH_KEY = "consortium:sync:dispatch-pending"


_redis_clients: dict = {}


def _redis():
    import redis

    url = settings.REDIS_URL
    if url not in _redis_clients:
        _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return _redis_clients[url]


def _mark_file() -> Path:
    return Path(settings.BROKER_DIR) / "dispatch.pending"


def _mark_dispatch() -> bool:
    """Set the pending mark unless it is set already; True when this caller set it (and must publish).

    Redis: ``SET NX EX``.  The embedded broker: a file created exclusively in the broker's folder,
    which web and worker share by construction.  If the mark cannot be read, publish anyway.
    """
    try:
        if settings.REDIS_URL:
            return bool(_redis().set(_DISPATCH_KEY, "1", nx=True, ex=DISPATCH_MARK_SECONDS))
        mark = _mark_file()
        try:
            os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            if time.time() - mark.stat().st_mtime < DISPATCH_MARK_SECONDS:
                return False
            mark.touch()
            return True
    except (OSError, RedisError) as exc:
        logger.warning("sync: dispatch mark unavailable (%s); publishing anyway", type(exc).__name__)
        return True


def release_dispatch() -> None:
    """Clear the pending mark: the dispatch task calls this first, before it reads the outbox."""
    try:
        if settings.REDIS_URL:
            _redis().delete(_DISPATCH_KEY)
        else:
            _mark_file().unlink(missing_ok=True)
    except (OSError, RedisError) as exc:
        logger.warning("sync: could not clear the dispatch mark (%s); it expires by itself", type(exc).__name__)


def enqueue_dispatch() -> bool:
    """Ask for a dispatch, coalesced: at most one dispatch task waits in the queue at a time.

    A commit that finds a dispatch already pending publishes nothing: that task has not started
    yet, and when it does it clears the mark first and then dispatches every event committed so
    far.  So a seeding or an import that commits a thousand events queues one task, not a thousand.
    """
    if project_celery_app().conf.task_always_eager:
        return _enqueue("sync.tasks.sync_dispatch_outbox")  # runs inline: nothing waits, nothing to coalesce
    if not _mark_dispatch():
        return False
    if _enqueue("sync.tasks.sync_dispatch_outbox"):
        return True
    release_dispatch()
    return False


def enqueue_endpoint(endpoint_id: int, countdown: float | None = None) -> bool:
    return _enqueue("sync.tasks.sync_deliver_endpoint", endpoint_id, countdown=countdown)


def _wake_key(endpoint_id: int) -> str:
    return f"consortium:sync:wake:{endpoint_id}"


def schedule_endpoint_wakeup(endpoint_id: int, countdown: float) -> bool:
    """Schedule one delayed task for an idle endpoint, unless one is already scheduled.

    The mark (Redis ``SET NX EX``, or a file beside the embedded broker) lives until a little after
    the wake-up; the woken task clears it first, so it may schedule the next one.
    """
    seconds = int(countdown) + 30
    try:
        if settings.REDIS_URL:
            if not _redis().set(_wake_key(endpoint_id), "1", nx=True, ex=seconds):
                return False
        else:
            mark = Path(settings.BROKER_DIR) / f"wake-{endpoint_id}.pending"
            try:
                os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                if time.time() - mark.stat().st_mtime < seconds:
                    return False
                mark.touch()
    except (OSError, RedisError) as exc:
        logger.warning("sync: wake-up mark unavailable (%s); scheduling anyway", type(exc).__name__)
    if _enqueue("sync.tasks.sync_deliver_endpoint", endpoint_id, True, countdown=countdown):
        return True
    release_endpoint_wakeup(endpoint_id)
    return False


def release_endpoint_wakeup(endpoint_id: int) -> None:
    try:
        if settings.REDIS_URL:
            _redis().delete(_wake_key(endpoint_id))
        else:
            (Path(settings.BROKER_DIR) / f"wake-{endpoint_id}.pending").unlink(missing_ok=True)
    except (OSError, RedisError) as exc:
        logger.warning("sync: could not clear the wake-up mark (%s); it expires by itself", type(exc).__name__)


def enqueue_batch(batch_id: int) -> bool:
    return _enqueue("sync.tasks.sync_land_batch", batch_id)
