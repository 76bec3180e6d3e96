"""Dispatch builds each message from rows preloaded for the whole round: the same message as one built
alone, in a fixed number of queries however many events the round holds."""

import pytest

from consortium.models import OutboxEvent
from consortium.prefetch import prefetch_reverse
from records.models import Encounter
from sync import fhir
from tests.factories import ChargeItemFactory, DiagnosisFactory, EncounterFactory

pytestmark = pytest.mark.django_db


def _stable(message: dict) -> dict:
    """The message's entries by fullUrl, without the MessageHeader (its URN is new each time)."""
    return {
        entry["fullUrl"]: entry["resource"] for entry in message["entry"] if entry["resource"]["resourceType"] != "MessageHeader"
    }


def test_a_preloaded_round_builds_the_same_messages_as_one_event_alone(full_record, chain):
    bare = EncounterFactory(patient=full_record, institution=chain["city"])  # a second visit in the round, with no parts
    events = [
        OutboxEvent.objects.get(
            aggregate_type="records.encounter", aggregate_id=str(full_record.encounters.get(external_id="HIS-0001").pk)
        ),
        OutboxEvent(event_type="encounter", aggregate_type="records.encounter", aggregate_id=str(bare.pk)),
    ]
    about = fhir.preload(events)
    for event in events:
        alone = fhir.build_message(event)
        preloaded = fhir.build_message(event, about)
        assert _stable(preloaded) == _stable(alone)
    kinds = sorted(resource["resourceType"] for resource in _stable(fhir.build_message(events[0], about)).values())
    # Every part of the full visit came through the preload, two diagnoses, two observations and two charges.
    assert kinds.count("Condition") == 2 and kinds.count("Observation") == 2 and kinds.count("ChargeItem") == 2
    assert kinds.count("MedicationRequest") == 1


def test_preloading_takes_the_same_queries_for_many_visits_as_for_one(chain, django_assert_num_queries):
    visits = [EncounterFactory(institution=chain["township"]) for _ in range(12)]
    for visit in visits:
        DiagnosisFactory(encounter=visit)
        ChargeItemFactory(encounter=visit)
    events = [
        OutboxEvent(event_type="encounter", aggregate_type="records.encounter", aggregate_id=str(visit.pk)) for visit in visits
    ]
    with django_assert_num_queries(5):  # the visits with patient and institution, then one query per part
        about = fhir.preload(events)
    with django_assert_num_queries(0):
        for event in events:
            fhir.build_message(event, about)


def test_two_copies_of_one_visit_both_answer_from_the_preload(chain, django_assert_num_queries):
    """Two referrals from one visit load two copies of it; both are filled."""
    visit = EncounterFactory(institution=chain["township"])
    first, second = DiagnosisFactory(encounter=visit), DiagnosisFactory(encounter=visit)
    copies = [Encounter.objects.get(pk=visit.pk), Encounter.objects.get(pk=visit.pk)]
    with django_assert_num_queries(1):
        prefetch_reverse(copies, "diagnoses")
    with django_assert_num_queries(0):
        for copy in copies:
            assert {d.pk for d in copy.diagnoses.all()} == {first.pk, second.pk}
            assert all(d.encounter.pk == visit.pk for d in copy.diagnoses.all())  # the link came with them
