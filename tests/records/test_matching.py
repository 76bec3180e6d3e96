"""MPI matching on fixtures with near-duplicates, typos and same-name-different-person cases."""

import datetime

import pytest

from records.matching import Incoming, Outcome, match_patient, match_patients, score
from records.models import Encounter, MatchReview, Patient, PatientMerge
from records.services import decide_review, merge_patients, receive_patients, unmerge_patients
from tests.factories import EncounterFactory, PatientFactory, make_resident_id

pytestmark = pytest.mark.django_db

BIRTH = datetime.date(1962, 8, 14)


@pytest.fixture
def known(chain):
    return PatientFactory(
        home_institution=chain["township"],
        name="刘德华",
        name_pinyin="liu de hua",
        sex="M",
        resident_id="",
        birth_date=BIRTH,
        village="凤阳村",
        insurance_number="YB0001",
    )


def test_exact_by_resident_id(chain):
    patient = PatientFactory(home_institution=chain["township"], name="王芳", sex="F")
    result = match_patient(name="完全不同", resident_id=patient.resident_id.lower(), sex="F")
    assert result.outcome == Outcome.EXACT and result.patient == patient and result.score == 1.0


def test_exact_by_insurance_number(known):
    outcome, patient, _score = match_patient(name="刘德化", insurance_number="YB0001")
    assert outcome == Outcome.EXACT and patient == known


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "刘德华", "sex": "M", "birth_date": BIRTH, "village": "凤阳村"}, Outcome.LINKED),  # same person, no IDs
        ({"name": "刘德华", "sex": "M", "birth_date": BIRTH}, Outcome.LINKED),  # village unknown
        ({"name": "刘德化", "sex": "M", "birth_date": BIRTH, "village": "凤阳村"}, Outcome.REVIEW),  # homophone typo
        (
            {"name": "刘德华", "sex": "M", "birth_date": datetime.date(1962, 8, 15), "village": "凤阳村"},
            Outcome.REVIEW,
        ),  # date typo
        ({"name": "刘德华", "name_pinyin": "liu dehua", "sex": "M", "birth_date": BIRTH}, Outcome.LINKED),
        ({"name": "刘德华", "sex": "M", "birth_date": BIRTH}, Outcome.LINKED),
        (
            {"name": "刘德华", "sex": "M", "birth_date": datetime.date(1975, 2, 3), "village": "河口村"},
            Outcome.NEW,
        ),  # same name, other person
        ({"name": "陈明", "sex": "M", "birth_date": BIRTH, "village": "凤阳村"}, Outcome.NEW),  # same birthday, other person
        ({"name": "刘德华", "sex": "F", "birth_date": BIRTH, "village": "河口村"}, Outcome.NEW),
    ],
)
def test_scored_outcomes(known, fields, expected):
    result = match_patient(**fields)
    assert result.outcome == expected, result
    assert (result.patient == known) is (expected in (Outcome.LINKED, Outcome.REVIEW))


def test_different_resident_ids_are_never_the_same_person(chain):
    rid_a = make_resident_id(birth_date=BIRTH, sex="M")
    a = PatientFactory(home_institution=chain["township"], name="张伟", sex="M", resident_id=rid_a, village="凤阳村")
    rid_b = make_resident_id(birth_date=BIRTH, sex="M")
    result = match_patient(name="张伟", sex="M", birth_date=a.birth_date, resident_id=rid_b, village="凤阳村")
    assert result.outcome == Outcome.NEW
    assert score(Incoming.of({"name": "张伟", "resident_id": rid_b}), a) == 0.0


def test_thresholds_come_from_settings(known, settings):
    fields = {"name": "刘德化", "sex": "M", "birth_date": BIRTH, "village": "凤阳村"}
    settings.MPI_LINK_THRESHOLD = 0.80
    assert match_patient(**fields).outcome == Outcome.LINKED
    settings.MPI_REVIEW_THRESHOLD = 0.99
    settings.MPI_LINK_THRESHOLD = 0.995
    assert match_patient(**fields).outcome == Outcome.NEW


def test_bulk_matching_is_set_based(known, django_assert_max_num_queries):
    rows = [
        {"name": "刘德华", "sex": "M", "birth_date": BIRTH, "village": "凤阳村"},
        {"name": "某某", "insurance_number": "YB0001"},
        *({"name": f"病人{i}", "sex": "F", "birth_date": datetime.date(1980, 1, 1 + i)} for i in range(20)),
    ]
    with django_assert_max_num_queries(2):
        results = match_patients(rows)
    assert [r.outcome for r in results[:2]] == [Outcome.LINKED, Outcome.EXACT]
    assert all(r.outcome == Outcome.NEW for r in results[2:])


def test_merged_patient_resolves_to_survivor(chain, known):
    rid = make_resident_id(birth_date=BIRTH, sex="M")
    duplicate = PatientFactory(home_institution=chain["township"], name="刘德华", sex="M", resident_id=rid, birth_date=BIRTH)
    merge_patients(actor=chain["staff"]["clerk"].user, survivor=known, duplicate=duplicate)
    assert match_patient(resident_id=rid).patient == known


def test_a_patient_merged_twice_resolves_to_the_last_survivor(chain, known, django_assert_max_num_queries):
    clerk = chain["staff"]["clerk"].user
    rid = make_resident_id(birth_date=BIRTH, sex="M")
    duplicate = PatientFactory(home_institution=chain["township"], name="刘德华", sex="M", resident_id=rid, birth_date=BIRTH)
    merge_patients(actor=clerk, survivor=known, duplicate=duplicate)
    last = PatientFactory(home_institution=chain["township"], name="刘德华", sex="M", resident_id="", birth_date=BIRTH)
    merge_patients(actor=clerk, survivor=last, duplicate=known)
    with django_assert_max_num_queries(3):  # the exact lookup, then one query per merge followed
        assert match_patient(resident_id=rid).patient == last
    assert match_patient(insurance_number="YB0001").patient == last


def test_receive_is_idempotent_and_queues_review(chain, known):
    actor = chain["staff"]["clerk"].user
    rows = [{"name": "刘德化", "sex": "M", "birth_date": BIRTH, "village": "凤阳村", "local_id": "HIS-9"}]
    first = receive_patients(actor=actor, institution=chain["township"], rows=rows, source="test")
    assert first[0].outcome == Outcome.REVIEW and first[0].review.candidate == known
    linked = receive_patients(
        actor=actor, institution=chain["township"], rows=[{"name": "刘德华", "sex": "M", "birth_date": BIRTH}], source="test"
    )
    assert linked[0].outcome == Outcome.LINKED and linked[0].patient == known


def test_merge_and_unmerge_are_audited_and_reversible(chain, known):
    from django.core.exceptions import ValidationError

    from consortium.models import AuditEvent

    actor = chain["staff"]["clerk"].user
    duplicate = PatientFactory(home_institution=chain["township"], name="刘德化", sex="M", resident_id="", birth_date=BIRTH)
    mine = EncounterFactory(patient=duplicate)
    theirs = EncounterFactory(patient=known)
    review = MatchReview.objects.create(patient=duplicate, candidate=known, score=0.85)
    decide_review(actor=actor, review=review, same_person=True)
    duplicate.refresh_from_db()
    assert duplicate.merged_into == known
    assert set(Encounter.objects.filter(patient=known)) == {mine, theirs}
    merge = PatientMerge.objects.get()
    unmerge_patients(actor=actor, merge=merge)
    duplicate.refresh_from_db()
    assert duplicate.merged_into is None
    assert list(Encounter.objects.filter(patient=duplicate)) == [mine]
    assert list(Encounter.objects.filter(patient=known)) == [theirs]
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["records.patients_merged", "records.match_review_decided", "records.patients_unmerged"]
    for event in AuditEvent.objects.all():
        assert "刘德" not in str(event.detail)
    with pytest.raises(ValidationError) as info:
        unmerge_patients(actor=actor, merge=merge)
    assert "merge" in info.value.message_dict


def test_merge_refuses_two_resident_ids(chain):
    from django.core.exceptions import ValidationError

    a = PatientFactory(home_institution=chain["township"])
    b = PatientFactory(home_institution=chain["township"])
    with pytest.raises(ValidationError):
        merge_patients(actor=chain["staff"]["clerk"].user, survivor=a, duplicate=b)
    assert Patient.objects.filter(merged_into__isnull=False).count() == 0


def test_review_queue_web_flow(chain, known, login):
    from django.urls import reverse

    duplicate = PatientFactory(home_institution=chain["township"], name="刘德化", sex="M", resident_id="", birth_date=BIRTH)
    review = MatchReview.objects.create(patient=duplicate, candidate=known, score=0.85)
    client = login(chain["staff"]["clerk"])
    assert review in list(client.get(reverse("records:index-queue")).context["reviews"])
    client.post(reverse("records:index-queue"), {"action": "separate", "review": review.pk})
    review.refresh_from_db()
    assert review.status == "separate"
    again = client.post(reverse("records:index-queue"), {"action": "link", "review": review.pk}, follow=True)
    assert any("already" in str(m) or "已" in str(m) for m in again.context["messages"])
    assert client.post(reverse("records:index-queue"), {"action": "link", "review": "x"}).status_code == 404
    assert (
        login(chain["staff"]["coordinator"])
        .post(reverse("records:index-queue"), {"action": "link", "review": review.pk})
        .status_code
        == 404
    )
