"""Two dispatchers at once keep a patient's events in order.

The beat sweep dispatches while the task a commit queued may be dispatching too.  Here the test
process holds a dispatch round open on the patient's first event while a second process (a real
``manage.py`` process, its own connection) dispatches: it must wait for the first round to commit
rather than dispatch the patient's second event ahead of it, which its lane would then send first.
"""

import subprocess
import sys
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from consortium import bulk
from consortium.models import OutboxEvent
from consortium.permissions import SYSTEM
from sync import deliveries, dispatch, endpoints
from sync.models import Delivery
from tests.factories import EncounterFactory, PatientFactory
from tests.live import BASE_DIR, process_env

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent dispatch rounds race only on PostgreSQL"),
]

SECOND_DISPATCHER = "from sync.dispatch import dispatch_round; print(dispatch_round(limit=10)[0])"


def test_a_second_dispatcher_waits_for_the_round_holding_a_patients_earlier_event(chain):
    clinic = chain["township"]
    endpoint = endpoints.register_endpoint(
        actor=SYSTEM, institution=chain["city"], name="市医院 HIS", url="http://127.0.0.1:9/fhir", events=["encounter"]
    )
    patient = PatientFactory(home_institution=clinic, consents_to_sharing=True)
    visits = [EncounterFactory(patient=patient, institution=clinic) for _ in range(2)]
    now = timezone.now()
    bulk.copy_insert(  # no commit hooks: only the two dispatchers below dispatch
        OutboxEvent,
        [
            {
                "event_type": "encounter",
                "aggregate_type": "records.encounter",
                "aggregate_id": str(visit.pk),
                "patient_id": patient.pk,
                "institution_id": clinic.pk,
                "created_at": now,
            }
            for visit in visits
        ],
    )
    first, second = OutboxEvent.objects.order_by("pk")

    with transaction.atomic():
        assert dispatch.take_events(limit=1) == [first]  # a round has taken the first event and builds it
        other = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", SECOND_DISPATCHER],
            cwd=BASE_DIR,
            env=process_env(CELERY_TASK_ALWAYS_EAGER="0"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and other.poll() is None:
                time.sleep(0.2)  # committed rows of the other process show here (read committed)
                assert not Delivery.objects.filter(event_id=second.pk).exists(), "the second event went out first"
            assert other.poll() is None, f"the second dispatcher did not wait: {other.communicate()[0]}"
        except BaseException:
            other.kill()
            raise
        transaction.set_rollback(True)  # the round gives up: the other dispatcher takes both events
    output, _ = other.communicate(timeout=60)
    assert other.returncode == 0, output
    assert output.strip().splitlines()[-1] == "2"

    claimed = deliveries.claim_due_deliveries(endpoint.pk, limit=10)
    assert [delivery.event_id for delivery in claimed] == [first.pk]  # the second waits behind it in its lane
