"""The outbox keeps a message with identifiers only while it is being delivered.

After every delivery of an event is delivered, and at once when the patient withdraws consent, no
resident ID, phone or address is left in any outbox row (read as the database holds it); a replay
of a purged event is built afresh from the record.
"""

import pytest
from django.db import connection

from consortium.models import OutboxEvent
from consortium.permissions import SYSTEM
from records.services import record_consent
from sync import deliveries
from sync.models import Delivery, DeliveryStatus
from sync.tasks import sync_sweep
from tests.factories import PatientFactory

from .conftest import write_encounter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

PHONE = "13912345678"
ADDRESS = "湖北省襄阳市南漳县鸣凤镇凤阳村三组"


def patient(chain, consents=True):
    """A patient of the city hospital, whose own HIS (``city_endpoint``) receives its identifiers."""
    return PatientFactory(home_institution=chain["city"], phone=PHONE, address=ADDRESS, consents_to_sharing=consents)


def outbox_text() -> str:
    """Every outbox row as stored (payload and message), past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload, fhir FROM consortium_outboxevent ORDER BY id")
        return repr(cursor.fetchall())


def identifiers_of(p) -> list[str]:
    return [p.resident_id, PHONE, ADDRESS]


def test_after_delivery_no_identifier_remains_in_the_outbox(chain, city_endpoint, receiver):
    person = patient(chain)
    _encounter, event = write_encounter(chain["city"], patient=person)
    sync_sweep()
    assert Delivery.objects.get(event=event).status == DeliveryStatus.DELIVERED
    assert person.resident_id in receiver.received[0].body.decode()  # the receiver got what it may read
    stored = outbox_text()
    assert not any(value in stored for value in identifiers_of(person))
    assert OutboxEvent.objects.get(pk=event.pk).fhir is None


def test_a_message_waiting_for_a_retry_is_kept_and_purged_once_delivered(chain, city_endpoint, receiver):
    person = patient(chain)
    receiver.fail_next(503)
    _encounter, event = write_encounter(chain["city"], patient=person)
    sync_sweep()
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert person.resident_id in outbox_text()  # the retry must carry the same body
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)
    sync_sweep()
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED
    assert receiver.received[0].body == receiver.received[1].body
    assert not any(value in outbox_text() for value in identifiers_of(person))


def test_consent_withdrawal_purges_the_patients_stored_messages_at_once(chain, city_endpoint, receiver):
    person = patient(chain)
    other = PatientFactory(home_institution=chain["city"], phone="13700000000", consents_to_sharing=True)
    receiver.fail_next(503, 503)
    _e1, event = write_encounter(chain["city"], patient=person)
    _e2, other_event = write_encounter(chain["city"], patient=other)
    sync_sweep()
    assert person.resident_id in outbox_text() and other.resident_id in outbox_text()

    record_consent(actor=SYSTEM, patient=person, granted=False, note="withdrawn")
    stored = outbox_text()
    assert not any(value in stored for value in identifiers_of(person))
    assert other.resident_id in stored  # another patient's pending message is untouched
    assert OutboxEvent.objects.get(pk=event.pk).fhir is None
    assert OutboxEvent.objects.get(pk=other_event.pk).fhir is not None


def test_a_replay_of_a_purged_event_is_built_afresh_from_the_record(chain, city_endpoint, receiver):
    person = patient(chain)
    _encounter, event = write_encounter(chain["city"], patient=person)
    sync_sweep()
    delivery = Delivery.objects.get(event=event)
    assert OutboxEvent.objects.get(pk=event.pk).fhir is None
    deliveries.replay_delivery(actor=chain["staff"]["hospital_admin"].user, delivery=delivery)
    sync_sweep()
    first, again = receiver.received[0].json, receiver.received[1].json
    assert again["resourceType"] == "Bundle" and again["identifier"] == first["identifier"]
    assert person.resident_id in receiver.received[1].body.decode()
    assert receiver.received[1].key == receiver.received[0].key
    assert not any(value in outbox_text() for value in identifiers_of(person))
