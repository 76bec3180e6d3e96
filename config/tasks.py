from celery import shared_task
from django.core.management import call_command

from consortium import partitions


@shared_task
def clear_expired_sessions():
    call_command("clearsessions")


@shared_task
def ensure_partitions():
    """Beat, daily: the month partitions ahead (and any month waiting in a default partition)."""
    report = partitions.ensure_partitions()
    return {"created": report.created, "moved": report.moved}


@shared_task
def apply_partition_retention():
    """Beat, daily: months past their table's retention archived to the file storage and removed."""
    report = partitions.apply_retention()
    return {"archived": [f"{a.key} {a.month}: {a.rows}" for a in report.archived], "held": report.held}
