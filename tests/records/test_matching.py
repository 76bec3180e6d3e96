"""MPI matching on fixtures with near-duplicates, typos and same-name-different-person cases."""

import datetime
import random

import hypothesis
import pytest
from django.db import connection
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from records.matching import (
    Incoming,
    Outcome,
    _birth_date_similarity,
    _classify,
    match_patient,
    match_patients,
    near_birth_dates,
    score,
)
from records.models import Encounter, MatchReview, Patient, PatientMerge
from records.pinyin import to_pinyin
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
    with django_assert_max_num_queries(3):  # the exact lookup, the candidates read, the few that can reach review loaded
        results = match_patients(rows)
    assert [r.outcome for r in results[:2]] == [Outcome.LINKED, Outcome.EXACT]
    assert all(r.outcome == Outcome.NEW for r in results[2:])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite reads UNION ALLs of literal branches")
def test_candidates_of_many_rows_are_one_read_on_postgresql(chain, known, django_assert_num_queries):
    """Bound arrays, not a statement of literal branches per hundred rows (planning those cost more than reading)."""
    _crowd(chain["township"], BIRTH, 30, ["刘德华", "陈明"])
    rows = [{"name": f"病人{i}", "sex": "F", "birth_date": BIRTH + datetime.timedelta(days=i)} for i in range(300)]
    rows.append({"name": "刘德华", "sex": "M", "birth_date": BIRTH, "village": "凤阳村"})
    with django_assert_num_queries(2):  # the candidates of all 600 branches, the match loaded
        results = match_patients(rows, resident_ids_unknown=True)
    assert (results[-1].outcome, results[-1].patient) == (Outcome.LINKED, known)
    assert all(r.outcome == Outcome.NEW for r in results[:-1])


def _crowd(institution, birth_date, count, names):
    """``count`` patients born on ``birth_date``, bulk-created, named from ``names`` in turn."""
    Patient.objects.bulk_create(
        Patient(
            home_institution=institution,
            name=names[i % len(names)] + chr(0x4E00 + i),
            name_pinyin=f"ai {i:04d}",
            sex="M",
            birth_date=birth_date,
            village="凤阳村",
        )
        for i in range(count)
    )


def test_a_match_is_found_however_many_share_the_birth_date(chain, known):
    """250 others born the same day whose pinyin sorts first: the matcher kept the first 200 and missed him."""
    _crowd(chain["township"], BIRTH, 250, ["艾", "安", "刘"])
    result = match_patient(name="刘德化", sex="M", birth_date=BIRTH, village="凤阳村")  # a homophone typo
    assert result.outcome == Outcome.REVIEW and result.patient == known


def test_a_match_is_found_however_many_share_the_name(chain, known):
    """250 namesakes born earlier whose pinyin sorts first: a birth date one digit off was missed."""
    Patient.objects.bulk_create(
        Patient(
            home_institution=chain["township"],
            name="刘德华",
            name_pinyin="a liu de hua",
            sex="M",
            birth_date=BIRTH - datetime.timedelta(days=400 + i),
        )
        for i in range(250)
    )
    result = match_patient(name="刘德华", sex="M", birth_date=datetime.date(1962, 8, 15), village="凤阳村")  # one digit off
    assert result.outcome == Outcome.REVIEW and result.patient == known


DATES = st.dates(min_value=datetime.date(1000, 1, 1), max_value=datetime.date(9999, 12, 31))


@given(
    day=DATES,
    other=DATES,
    position=st.integers(0, 7),
    digit=st.sampled_from("0123456789"),
    kind=st.sampled_from(["any", "digit", "swap"]),
)
def test_near_birth_dates_are_exactly_those_scoring_above_zero(day, other, position, digit, kind):
    if kind == "digit":
        text = day.strftime("%Y%m%d")
        text = text[:position] + digit + text[position + 1 :]
        try:
            other = datetime.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return
        if other.year < 1000:
            return
    elif kind == "swap" and day.day <= 12:
        other = datetime.date(day.year, day.day, day.month)
    assert (_birth_date_similarity(day, other) > 0) == (other in near_birth_dates(day))
    assert all(_birth_date_similarity(day, near) > 0 for near in near_birth_dates(day))


NAME_CHARACTERS = "刘德华陈明王芳·%_"  # with LIKE's wildcards, which must match only themselves
POPULATION_DATES = [
    BIRTH,
    datetime.date(1962, 8, 15),  # one digit off
    datetime.date(1972, 8, 14),  # one digit off
    datetime.date(1962, 3, 4),
    datetime.date(1962, 4, 3),  # day and month swapped
]


@pytest.fixture
def population(chain):
    """Patients close to one another: few characters, few birth dates (some one digit apart, one swapped)."""
    rng = random.Random(19)
    names = ["".join(rng.choice(NAME_CHARACTERS) for _ in range(rng.randint(1, 3))) for _ in range(120)]
    Patient.objects.bulk_create(
        Patient(
            home_institution=chain["township"],
            name=name,
            name_pinyin=to_pinyin(name),
            sex=rng.choice("MFU"),
            birth_date=rng.choice(POPULATION_DATES),
            village=rng.choice(["凤阳村", "凤阳", "河口村", ""]),
        )
        for name in names
    )
    for patient in Patient.objects.order_by("pk")[::4]:  # a quarter carry a resident ID (the veto)
        patient.resident_id = make_resident_id(birth_date=patient.birth_date, sex="F" if patient.sex == "F" else "M")
        patient.save()
    return list(Patient.objects.all())


#: Resident IDs the index does not know: a row carrying one reaches the scored matcher, and the veto.
STRANGERS = [make_resident_id(birth_date=BIRTH), make_resident_id(birth_date=datetime.date(1962, 3, 4), sex="F")]


@hypothesis.settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "name": st.text(alphabet=NAME_CHARACTERS, max_size=3),
                "sex": st.sampled_from(["M", "F", "U", ""]),
                "birth_date": st.one_of(st.none(), st.sampled_from(POPULATION_DATES)),
                "village": st.sampled_from(["凤阳村", "河口", ""]),
                "resident_id": st.sampled_from(["", *STRANGERS]),
            }
        ),
        min_size=1,
        max_size=5,
    ),
    threshold=st.sampled_from([0.75, 0.6, 0.85]),
)
def test_narrowed_matching_decides_as_scoring_every_candidate(population, rows, threshold, settings):
    """The candidates left unread could not have reached review, and the ones read were scored without
    decrypting them: the same decision as scoring every candidate in full."""
    settings.MPI_REVIEW_THRESHOLD = threshold
    results = match_patients(rows)
    for fields, result in zip(rows, results, strict=True):
        row = Incoming.of(fields)
        pool = [p for p in population if (row.birth_date and p.birth_date == row.birth_date) or (row.name and p.name == row.name)]
        expected = _classify(row, pool)
        assert (result.outcome, result.patient) == (expected.outcome, expected.patient), fields
        if expected.outcome != Outcome.NEW:
            assert result.score == expected.score
        else:
            assert result.score <= expected.score


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
