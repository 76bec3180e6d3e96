from celery import shared_task
from django.core.management import call_command

from .sync.tasks import sync_deliver_endpoint, sync_dispatch_outbox, sync_land_batch, sync_sweep  # noqa: F401  (autodiscovery)


@shared_task
def clear_expired_sessions():
    call_command("clearsessions")
