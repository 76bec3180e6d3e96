"""One event of a landed batch is found through the primary key, however many events share its created_at.

A batch landing writes its thousands of outbox events with one ``created_at``.  Dispatch then
updates each event by ``(id, created_at)`` and the deliveries' foreign keys check each event the
same way; an index on ``created_at`` alone made the planner walk the whole batch for each of them
(1.4 ms an UPDATE and 1 ms a foreign-key check at 5,000 events, most of PostgreSQL's time in a push).
"""

import datetime

import pytest
from django.db import connection
from django.utils import timezone

from consortium import bulk
from consortium.models import Institution, OutboxEvent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the outbox is partitioned only on PostgreSQL"),
]

BATCH = 3000


def copy_events(institution: Institution, created: list) -> None:
    bulk.copy_insert(
        OutboxEvent,
        [
            {
                "event_type": "encounter",
                "aggregate_type": "records.encounter",
                "aggregate_id": str(i),
                "patient_id": i,
                "institution_id": institution.pk,
                "created_at": created_at,
            }
            for i, created_at in enumerate(created)
        ],
    )


@pytest.fixture
def landed_batch(chain):
    """A month of single events the statistics know, then a batch landed after them with one ``created_at``.

    The batch's ``created_at`` is not among the statistics' common values, so the planner takes it for
    as rare as any other: the situation of every batch landed since the partition was last analysed.
    """
    now = timezone.now().replace(microsecond=0)
    month_start = now.replace(day=1, hour=0, minute=0, second=0)
    copy_events(chain["township"], [month_start + datetime.timedelta(seconds=i) for i in range(BATCH)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE consortium_outboxevent")
    first = OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1
    copy_events(chain["township"], [now] * BATCH)
    return list(OutboxEvent.objects.filter(pk__gte=first).order_by("pk").values_list("pk", "created_at"))


def plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def scan_buffers(text: str) -> int:
    """Shared buffers (hit + read) the plan's scans touched to find the rows, not counting the writing of them."""
    total, in_scan = 0, False
    for line in text.splitlines():
        if "Scan" in line:
            in_scan = True
        elif in_scan and "Buffers: shared" in line:
            total += sum(int(part.split("=")[1]) for part in line.split("shared", 1)[1].split() if "=" in part)
            in_scan = False
    return total


@pytest.mark.parametrize("position", [0, BATCH // 2, BATCH - 1])
def test_dispatch_update_of_one_event_reads_a_few_pages(landed_batch, position):
    pk, created_at = landed_batch[position]
    text = plan(
        "UPDATE consortium_outboxevent SET dispatched_at = %s, fhir = %s::jsonb WHERE id = %s AND created_at = %s",
        [timezone.now(), '{"resourceType": "Bundle"}', pk, created_at],
    )
    assert "_pkey" in text, text
    assert scan_buffers(text) < 10, text


def test_foreign_key_check_of_one_event_reads_a_few_pages(landed_batch):
    """The statement PostgreSQL runs for each delivery's foreign key to its event."""
    pk, created_at = landed_batch[BATCH // 2]
    text = plan("SELECT 1 FROM consortium_outboxevent x WHERE id = %s AND created_at = %s FOR KEY SHARE OF x", [pk, created_at])
    assert "_pkey" in text, text
    assert scan_buffers(text) < 10, text
