"""Every transition of the three chronic-care tables, every illegal one, and what each writes."""

import datetime

import pytest

from chronic import services
from chronic.models import (
    Contract,
    ContractStatus,
    Enrolment,
    EnrolmentStatus,
    FollowUp,
    FollowUpStatus,
)
from chronic.transitions import (
    CONTRACT_TRANSITIONS,
    ENROLMENT_TRANSITIONS,
    FOLLOW_UP_TRANSITIONS,
    ContractAct,
    EnrolmentAct,
    FollowUpAct,
)
from consortium.errors import IllegalTransition, NotPermitted
from consortium.models import AuditEvent, OutboxEvent, OutboxEventType

pytestmark = pytest.mark.django_db

ENROLMENT_PATHS = {
    EnrolmentStatus.CANDIDATE: [],
    EnrolmentStatus.ENROLLED: [EnrolmentAct.ENROL],
    EnrolmentStatus.DECLINED: [EnrolmentAct.DECLINE],
    EnrolmentStatus.DISCHARGED: [EnrolmentAct.ENROL, EnrolmentAct.DISCHARGE],
}
FOLLOW_UP_PATHS = {FollowUpStatus.DUE: [], FollowUpStatus.DONE: [FollowUpAct.RECORD], FollowUpStatus.MISSED: [FollowUpAct.MISS]}
CONTRACT_PATHS = {ContractStatus.SIGNED: [], ContractStatus.RENEWED: [ContractAct.RENEW], ContractStatus.ENDED: [ContractAct.END]}


def take_enrolment(chronic, enrolment, act, actor=None):
    actor = actor or chronic.public_health
    if act == EnrolmentAct.ENROL:
        return services.enrol(enrolment.pk, actor=actor, team=chronic.team)
    if act == EnrolmentAct.DECLINE:
        return services.decline(enrolment.pk, actor=actor, reason="本人拒绝签约管理")
    return services.leave_programme(enrolment.pk, actor=actor, reason="迁出本地")


def enrolment_in(chronic, status) -> Enrolment:
    patient = chronic.patient()
    enrolment = services.add_candidate(
        actor=chronic.public_health, patient=patient, programme=chronic.hypertension, institution=chronic.village
    )
    for act in ENROLMENT_PATHS[status]:
        take_enrolment(chronic, enrolment, act)
    return Enrolment.objects.get(pk=enrolment.pk)


def take_follow_up(chronic, follow_up, act, actor=None):
    actor = actor or chronic.village_doctor
    if act == FollowUpAct.RECORD:
        return services.record_follow_up(follow_up.pk, actor=actor, measurements={"bp_systolic": "150", "bp_diastolic": "92"})
    return services.mark_missed(follow_up.pk, actor=actor, note="电话未接通")


def follow_up_in(chronic, status) -> FollowUp:
    follow_up = chronic.due(chronic.enrolled())
    for act in FOLLOW_UP_PATHS[status]:
        take_follow_up(chronic, follow_up, act)
    return FollowUp.objects.get(pk=follow_up.pk)


def take_contract(chronic, contract, act, actor=None):
    actor = actor or chronic.public_health
    if act == ContractAct.RENEW:
        return services.renew_contract(
            contract.pk, actor=actor, ends_on=contract.ends_on + datetime.timedelta(days=365), signature_method="handwritten"
        )
    return services.end_contract(contract.pk, actor=actor, reason="居民迁出")


def contract_in(chronic, status, today) -> Contract:
    contract = services.sign_contract(
        actor=chronic.public_health,
        team=chronic.team,
        holder=chronic.patient(code=None),
        package="basic",
        starts_on=today,
        ends_on=today + datetime.timedelta(days=365),
        signature_method="handwritten",
    )
    for act in CONTRACT_PATHS[status]:
        take_contract(chronic, contract, act)
    return Contract.objects.get(pk=contract.pk)


TABLES = [
    ("enrolment", ENROLMENT_TRANSITIONS, EnrolmentStatus, EnrolmentAct, enrolment_in, take_enrolment),
    ("follow_up", FOLLOW_UP_TRANSITIONS, FollowUpStatus, FollowUpAct, follow_up_in, take_follow_up),
    ("contract", CONTRACT_TRANSITIONS, ContractStatus, ContractAct, contract_in, take_contract),
]
LEGAL = [(name, source, act) for name, table, *_rest in TABLES for (source, act) in table]
ILLEGAL = [
    (name, status, act)
    for name, table, statuses, acts, *_rest in TABLES
    for status in statuses
    for act in acts
    if (status, act) not in table
]
BY_NAME = {row[0]: row for row in TABLES}


def _make(chronic, name, status, today):
    maker = BY_NAME[name][4]
    return maker(chronic, status, today) if name == "contract" else maker(chronic, status)


@pytest.mark.parametrize("name", list(BY_NAME))
def test_every_status_is_reachable(name):
    _name, table, statuses, *_rest = BY_NAME[name]
    starts = {EnrolmentStatus.CANDIDATE, FollowUpStatus.DUE, ContractStatus.SIGNED}
    assert {target for target in table.values()} | (starts & set(statuses)) == set(statuses)


@pytest.mark.parametrize(("name", "source", "act"), LEGAL, ids=[f"{n}-{s}-{a}" for n, s, a in LEGAL])
def test_legal_transition(chronic, today, name, source, act):
    obj = _make(chronic, name, source, today)
    audits, outbox = AuditEvent.objects.count(), OutboxEvent.objects.count()
    BY_NAME[name][5](chronic, obj, act)
    obj.refresh_from_db()
    assert obj.status == BY_NAME[name][1][(source, act)]
    assert AuditEvent.objects.count() >= audits + 1
    events = OutboxEvent.objects.filter(
        event_type=OutboxEventType.CHRONIC, aggregate_type=obj._meta.label_lower, aggregate_id=str(obj.pk)
    ).order_by("pk")
    assert OutboxEvent.objects.count() >= outbox + 1
    payload = events.last().payload
    assert "李四" not in str(payload)
    assert AuditEvent.objects.filter(object_id=str(obj.pk), action__startswith="chronic.").exists()


@pytest.mark.parametrize(("name", "source", "act"), ILLEGAL, ids=[f"{n}-{s}-{a}" for n, s, a in ILLEGAL])
def test_illegal_transition_is_an_error_and_changes_nothing(chronic, today, name, source, act):
    obj = _make(chronic, name, source, today)
    outbox = OutboxEvent.objects.count()
    with pytest.raises(IllegalTransition) as error:
        BY_NAME[name][5](chronic, obj, act)
    assert "cannot" in error.value.message or "不能" in error.value.message
    obj.refresh_from_db()
    assert obj.status == source
    assert OutboxEvent.objects.count() == outbox


@pytest.mark.parametrize(
    ("name", "source", "act", "who"),
    [
        ("enrolment", EnrolmentStatus.CANDIDATE, EnrolmentAct.ENROL, "outsider"),
        ("enrolment", EnrolmentStatus.CANDIDATE, EnrolmentAct.ENROL, "consortium_admin"),
        ("enrolment", EnrolmentStatus.CANDIDATE, EnrolmentAct.DECLINE, "coordinator"),
        ("enrolment", EnrolmentStatus.ENROLLED, EnrolmentAct.DISCHARGE, "insurance"),
        ("follow_up", FollowUpStatus.DUE, FollowUpAct.RECORD, "outsider"),
        ("follow_up", FollowUpStatus.DUE, FollowUpAct.RECORD, "other_village_doctor"),
        ("follow_up", FollowUpStatus.DUE, FollowUpAct.MISS, "coordinator"),
        ("contract", ContractStatus.SIGNED, ContractAct.END, "other_village_doctor"),
        ("contract", ContractStatus.SIGNED, ContractAct.RENEW, "outsider"),
    ],
)
def test_wrong_actor_is_denied_and_changes_nothing(chronic, today, name, source, act, who):
    obj = _make(chronic, name, source, today)
    with pytest.raises(NotPermitted):
        BY_NAME[name][5](chronic, obj, act, actor=chronic.staff[who].user)
    obj.refresh_from_db()
    assert obj.status == source
