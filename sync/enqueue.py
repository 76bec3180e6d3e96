"""Publishing sync's tasks, by name on the project's Celery app, without waiting on a down broker.

Services enqueue after commit and tasks re-enqueue themselves; both come through here, so neither
imports the other. What a down broker loses here, the beat sweep (``sync.tasks.sync_sweep``) redoes.
"""

import logging

from kombu.exceptions import OperationalError

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


def enqueue_dispatch() -> bool:
    return _enqueue("sync.tasks.sync_dispatch_outbox")


def enqueue_endpoint(endpoint_id: int, countdown: float | None = None) -> bool:
    return _enqueue("sync.tasks.sync_deliver_endpoint", endpoint_id, countdown=countdown)


def enqueue_batch(batch_id: int) -> bool:
    return _enqueue("sync.tasks.sync_land_batch", batch_id)
