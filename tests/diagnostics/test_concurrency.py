"""Twenty readers in twenty processes claim at once on PostgreSQL: never a double claim."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from consortium.models import StaffRole
from diagnostics.models import Order, OrderStatus, Reader
from tests.factories import StaffFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="real concurrent transactions need PostgreSQL (SQLite serialises writers)"
    ),
]

READERS = 20
ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _readers(setting) -> list[str]:
    names = []
    for i in range(READERS):
        staff = StaffFactory(user__username=f"reader{i:02d}", institution=setting.city, role=StaffRole.DIAGNOSTIC_READER)
        Reader.objects.create(centre=setting.imaging, staff=staff, modalities=["CR"])
        names.append(staff.user.username)
    return names


def _received_orders(setting, count: int) -> list[Order]:
    now = timezone.now()
    return [
        Order.objects.create(
            accession=f"CONC-{i:04d}",
            patient=setting.patient,
            encounter=setting.encounter,
            ordering_institution=setting.township,
            centre=setting.imaging,
            service=setting.xray,
            modality="CR",
            urgency="routine",
            reason="并发测试",
            status=OrderStatus.RECEIVED,
            requested_at=now,
            due_at=now,
        )
        for i in range(count)
    ]


def _claim_all(mode: str, target: int, usernames: list[str]) -> list[dict]:
    import json

    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_TASK_ALWAYS_EAGER": "1"}
    env.pop("TEST_DB_NAME", None)
    start = time.time() + 6  # every process is up and waiting before the first claim
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.diagnostics.claimer", mode, str(target), name, str(start)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in usernames
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_twenty_claims_of_one_study_give_exactly_one_reader(setting):
    usernames = _readers(setting)
    order = _received_orders(setting, 1)[0]
    results = _claim_all("one", order.pk, usernames)
    winners = [r for r in results if r["claimed"] == order.pk]
    assert len(winners) == 1
    assert sorted(r["code"] for r in results if r["claimed"] is None) == ["already_claimed"] * (READERS - 1)
    order.refresh_from_db()
    assert order.status == OrderStatus.CLAIMED and order.events.filter(action="claim").count() == 1


def test_twenty_readers_taking_the_next_study_never_share_one(setting):
    usernames = _readers(setting)
    orders = _received_orders(setting, 12)
    results = _claim_all("next", setting.imaging.pk, usernames)
    claimed = [r["claimed"] for r in results if r["claimed"] is not None]
    assert len(claimed) == len(set(claimed)) == len(orders)
    assert Order.objects.filter(status=OrderStatus.CLAIMED).count() == len(orders)
    assert sum(Order.objects.get(pk=pk).events.filter(action="claim").count() for pk in claimed) == len(orders)
