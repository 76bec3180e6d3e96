"""Every write service checks the actor's right itself, not only the view or API in front of it.

The services are listed from the code: every public function of a service module that takes an
``actor``. Each must have a case below, called with a user who has no right where it acts and with
no actor at all; both must be refused with the domain's permission error (``NotPermitted``, or
Django's ``PermissionDenied`` it extends), and nothing may be audited. A new service without a case
fails ``test_every_service_has_a_case``: write its case.
"""

import datetime
import importlib
import inspect
import io
import json
from decimal import Decimal
from functools import partial

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from consortium import approvals as consortium_approvals
from consortium import secondment_services
from consortium import tokens as consortium_tokens
from consortium.models import ApiClient, AuditEvent, Department, MachineAccessRequest
from consortium.permissions import SYSTEM
from dashboard import services as dashboard_services
from insurance import services as insurance_services
from insurance.models import Claim, Discrepancy, Policy, SettlementFile
from records import services as records_services
from records.models import BreakGlassAccess, MatchReview
from referrals import services as referral_services
from sync import batches as sync_batches
from sync import deliveries as sync_deliveries
from sync import endpoints as sync_endpoints
from sync.models import Delivery, Endpoint
from tests.factories import PatientFactory
from tests.insurance.conftest import enrol, policy, scheme, visit  # noqa: F401  (fixtures)
from tests.referrals.conftest import Setting

#: The modules that hold write services (one per app, or one per job where an app is split by job).
SERVICE_MODULES = [
    "consortium.secondment_services",
    "records.services",
    "referrals.services",
    "insurance.services",
    "dashboard.services",
    "consortium.tokens",
    "consortium.approvals",
    "sync.endpoints",
    "sync.deliveries",
    "sync.batches",
]

#: Public functions taking an ``actor`` that are not actions of their own, with the reason.
NOT_ACTIONS = {
    "consortium.approvals.may_manage": "a predicate of the machine-access rule; it writes nothing",
    "consortium.approvals.may_request": "a predicate of the machine-access rule; it writes nothing",
    "consortium.approvals.require_manage": "the check the token and endpoint services call first; it writes nothing",
    "referrals.services.may_take": "a predicate the pages use to show buttons; it writes nothing",
    "referrals.services.take": "dispatches to the transition services by name; each has its own case",
    "dashboard.services.recompute_expenditure_warnings": "the nightly recomputation, run by beat as the platform",
    "records.services.match_batch_patients": "called by sync's batch landing only, which checked the sender's right",
}


def write_services() -> list[str]:
    names = []
    for module_name in SERVICE_MODULES:
        module = importlib.import_module(module_name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module_name and not name.startswith("_"):
                if "actor" in inspect.signature(function).parameters:
                    names.append(f"{module_name}.{name}")
    return sorted(names)


class World(Setting):
    """The referral test chain, plus one of everything a service acts on."""

    def __init__(self, chain, make_visit, policy_in_force):
        super().__init__(chain)
        self.visit = make_visit
        self.policy = policy_in_force
        self.office = chain["office"]
        self.outsider = chain["staff"]["outsider"].user  # a clinician of a clinic outside the consortium
        self.insurer = chain["staff"]["insurance"].user
        self.other = PatientFactory(
            home_institution=self.township, name="王五", resident_id="", birth_date=datetime.date(1968, 5, 17)
        )

    def referral(self, status="submitted"):
        return self.referral_in(status)

    def claim(self):
        from insurance import services

        return services.create_claim(encounter=self.visit(), actor=SYSTEM)

    def settlement(self):
        return SettlementFile.objects.create(
            office=self.office, period="2026-03", file_name="s.csv", file_format="csv", sha256="0" * 64
        )

    def discrepancy(self):
        from insurance.models import ReconciliationRun

        run = ReconciliationRun.objects.create(
            office=self.office, settlement_file=self.settlement(), institution=self.township, period="2026-03"
        )
        return Discrepancy.objects.create(run=run, kind="missing_at_insurer", claim_number="C-1")

    def endpoint(self):
        return Endpoint.objects.create(institution=self.city, name="HIS", url="https://his.example.org/fhir", secret="s" * 32)

    def api_client(self):
        client = ApiClient(name="HIS", kind="member_system", institution=self.city)
        client.issue_token()
        client.save()
        return client

    def access_request(self):
        return MachineAccessRequest.objects.create(
            kind="token_create",
            institution=self.city,
            payload={"name": "HIS"},
            reason="新接口上线",
            requested_by=self.chain["staff"]["consortium_admin"].user,
        )

    def approved_request(self):
        """An approved token request whose token waits, sealed, for its requester."""
        request = self.access_request()
        MachineAccessRequest.objects.filter(pk=request.pk).update(status="approved")
        request.refresh_from_db()
        request.sealed_secret = "sealed-token-for-the-requester"
        request.save(update_fields=["sealed_secret"])
        return request

    def delivery(self, status="pending"):
        from consortium.models import OutboxEvent

        event = OutboxEvent.objects.create(event_type="encounter", aggregate_type="records.encounter", aggregate_id="1")
        return Delivery.objects.create(event=event, endpoint=self.endpoint(), lane="p", status=status)


def _encounter_input():
    from records.services import EncounterInput

    return EncounterInput(kind="outpatient", started_at=timezone.now() - datetime.timedelta(hours=1))


def _secondment(w):
    from consortium.models import Secondment

    return Secondment.objects.create(
        consortium=w.city.memberships.get().consortium,
        physician_name="王建华",
        from_institution=w.city,
        to_institution=w.township,
        starts_on=datetime.date(2026, 3, 1),
    )


def _downward(w):
    from referrals.models import Direction, Referral, ReferralStatus

    return Referral.objects.create(
        patient=w.patient,
        direction=Direction.DOWN,
        from_institution=w.city,
        to_institution=w.patient.home_institution,
        reason="出院下转",
        status=ReferralStatus.SUBMITTED,
        submitted_at=timezone.now(),
    )


def _merge(w):
    from records import services

    superuser = type(w.coordinator).objects.create_superuser("root", "root@example.org", "x" * 12)
    return services.merge_patients(actor=superuser, survivor=w.patient, duplicate=w.other)


#: For each write service: prepare what it acts on in the world ``w``; the call then takes only ``actor``.
CASES = {
    "consortium.secondment_services.record_secondment": lambda w: partial(
        secondment_services.record_secondment,
        physician_name="王建华",
        specialty="心血管内科",
        from_institution=w.city,
        to_institution=w.township,
        starts_on=datetime.date(2026, 3, 1),
    ),
    "consortium.secondment_services.end_secondment": lambda w: partial(
        secondment_services.end_secondment, secondment=_secondment(w)
    ),
    "records.services.acknowledge_notice": lambda w: partial(records_services.acknowledge_notice, notice=_notice(w)),
    "records.services.decide_review": lambda w: partial(
        records_services.decide_review,
        review=MatchReview.objects.create(patient=w.other, candidate=w.patient, score=0.8),
        same_person=True,
    ),
    "records.services.merge_patients": lambda w: partial(records_services.merge_patients, survivor=w.patient, duplicate=w.other),
    "records.services.unmerge_patients": lambda w: partial(records_services.unmerge_patients, merge=_merge(w)),
    "records.services.receive_patients": lambda w: partial(
        records_services.receive_patients,
        institution=w.township,
        rows=[{"name": "赵六", "sex": "M", "birth_date": datetime.date(1970, 1, 1)}],
        source="test",
    ),
    "records.services.record_access_report": lambda w: partial(
        records_services.record_access_report, patient=w.patient, entries=0, path="/records/patients/1/access-log/print/"
    ),
    "records.services.record_allergy": lambda w: partial(
        records_services.record_allergy, institution=w.township, patient=w.patient, substance="青霉素"
    ),
    "records.services.record_consent": lambda w: partial(records_services.record_consent, patient=w.patient, granted=True),
    "records.services.record_encounter": lambda w: partial(
        records_services.record_encounter, institution=w.township, patient=w.patient, data=_encounter_input()
    ),
    "records.services.register_patient": lambda w: partial(
        records_services.register_patient,
        institution=w.township,
        data={"name": "赵六", "sex": "M", "birth_date": datetime.date(1970, 1, 1)},
    ),
    "records.services.review_break_glass": lambda w: partial(
        records_services.review_break_glass,
        grant=BreakGlassAccess.objects.create(
            patient=w.patient,
            user=w.coordinator,
            institution=w.city,
            reason="急诊抢救，患者昏迷",
            expires_at=timezone.now() + datetime.timedelta(hours=1),
        ),
    ),
    "records.services.start_break_glass": lambda w: partial(
        records_services.start_break_glass, patient=w.patient, reason="急诊抢救，患者昏迷无法表达"
    ),
    "records.services.update_encounter": lambda w: partial(
        records_services.update_encounter, encounter=w.encounter, changes={"chief_complaint": "头晕"}
    ),
    "records.services.update_patient": lambda w: partial(records_services.update_patient, patient=w.patient, data={"phone": ""}),
    "referrals.services.accept_referral": lambda w: partial(
        referral_services.accept_referral, w.referral().pk, slot_id=w.slot.pk
    ),
    "referrals.services.receive_downward_referral": lambda w: partial(
        referral_services.receive_downward_referral, _downward(w).pk
    ),
    "referrals.services.add_attachment": lambda w: partial(referral_services.add_attachment, w.draft().pk, upload=_png()),
    "referrals.services.cancel_referral": lambda w: partial(referral_services.cancel_referral, w.draft().pk),
    "referrals.services.complete_follow_up_task": lambda w: partial(
        referral_services.complete_follow_up_task, _follow_up(w).pk, outcome="血压平稳"
    ),
    "referrals.services.complete_referral": lambda w: partial(referral_services.complete_referral, w.referral("in_treatment").pk),
    "referrals.services.create_referral": lambda w: partial(w.draft, source_encounter=None),
    "referrals.services.discharge_with_downward_referral": lambda w: partial(
        referral_services.discharge_with_downward_referral,
        w.referral("in_treatment").pk,
        discharge_summary="血压控制良好出院",
        tasks=[{"kind": "revisit", "due_on": timezone.localdate() + datetime.timedelta(days=7)}],
    ),
    "referrals.services.open_referral_slot": lambda w: partial(
        referral_services.open_referral_slot,
        department=w.cardiology,
        starts_at=timezone.now() + datetime.timedelta(days=3),
        capacity=2,
    ),
    "referrals.services.open_referral_slots": lambda w: partial(
        referral_services.open_referral_slots,
        slots=[{"department": w.cardiology, "starts_at": timezone.now() + datetime.timedelta(days=3), "capacity": 2}],
    ),
    "referrals.services.record_arrival": lambda w: partial(referral_services.record_arrival, w.referral("accepted").pk),
    "referrals.services.record_satisfaction": lambda w: partial(
        referral_services.record_satisfaction, w.referral("completed").pk, score=5
    ),
    "referrals.services.redirect_referral": lambda w: partial(
        referral_services.redirect_referral, w.referral().pk, to_department=w.neurology, reason="更适合神经内科"
    ),
    "referrals.services.reject_referral": lambda w: partial(
        referral_services.reject_referral, w.referral().pk, reason="床位已满"
    ),
    "referrals.services.set_due_time_policy": lambda w: partial(
        referral_services.set_due_time_policy, consortium=w.chain["consortium"]
    ),
    "referrals.services.start_review": lambda w: partial(referral_services.start_review, w.referral().pk),
    "referrals.services.start_treatment": lambda w: partial(referral_services.start_treatment, w.referral("arrived").pk),
    "referrals.services.submit_referral": lambda w: partial(referral_services.submit_referral, w.draft().pk),
    "insurance.services.adjudicate_claims": lambda w: _adjudicate(w),
    "insurance.services.add_reason_code": lambda w: partial(
        insurance_services.add_reason_code, code="LOCAL-1", text_zh="本地规则", text_en="Local rule"
    ),
    "insurance.services.appeal_adjudication": lambda w: _appeal(w),
    "insurance.services.submit_his_claims": lambda w: partial(
        insurance_services.submit_his_claims, institution=w.township, external_ids=["V-1"]
    ),
    "insurance.services.reopen_period": lambda w: partial(
        insurance_services.reopen_period, institution=w.township, period="2026-03", reason="补录漏结算的一笔"
    ),
    "insurance.services.close_period": lambda w: partial(
        insurance_services.close_period, institution=w.township, period="2026-03"
    ),
    "insurance.services.correct_claim": lambda w: partial(
        insurance_services.correct_claim, claim=w.claim(), reason="收费项目录入错误"
    ),
    "insurance.services.create_claim": lambda w: partial(insurance_services.create_claim, encounter=w.visit()),
    "insurance.services.new_policy_version": lambda w: partial(insurance_services.new_policy_version, policy=_policy()),
    "insurance.services.publish_policy": lambda w: partial(insurance_services.publish_policy, policy=_policy()),
    "insurance.services.readjudicate_claims": lambda w: _readjudicate(w),
    "insurance.services.reverse_claim": lambda w: partial(insurance_services.reverse_claim, claim=w.claim(), reason="重复结算"),
    "insurance.services.run_reconciliation": lambda w: partial(
        insurance_services.run_reconciliation, settlement_file=w.settlement(), institution=w.township
    ),
    "insurance.services.store_settlement_file": lambda w: partial(
        insurance_services.store_settlement_file,
        office=w.office,
        period="2026-03",
        upload=io.BytesIO(b""),
        file_name="s.csv",
        encoding="utf-8",
    ),
    "insurance.services.submit_claims": lambda w: partial(
        insurance_services.submit_claims, institution=w.township, period="2026-03"
    ),
    "insurance.services.update_discrepancy": lambda w: partial(
        insurance_services.update_discrepancy, discrepancy=w.discrepancy(), status="explained", note="医保已确认"
    ),
    "dashboard.services.record_household_economics": lambda w: partial(
        dashboard_services.record_household_economics,
        patient=w.patient,
        income_band="under_10k",
        annual_income=Decimal("8000.00"),
    ),
    "consortium.tokens.create_api_token": lambda w: partial(consortium_tokens.create_api_token, name="HIS", institution=w.city),
    "consortium.tokens.rotate_api_token": lambda w: partial(consortium_tokens.rotate_api_token, api_client=w.api_client()),
    "consortium.tokens.revoke_api_token": lambda w: partial(consortium_tokens.revoke_api_token, api_client=w.api_client()),
    "consortium.approvals.request_machine_access": lambda w: partial(
        consortium_approvals.request_machine_access,
        kind="token_create",
        institution=w.city,
        payload={"name": "HIS"},
        reason="新接口上线",
    ),
    "consortium.approvals.approve_machine_access": lambda w: partial(
        consortium_approvals.approve_machine_access, request=w.access_request()
    ),
    "consortium.approvals.collect_machine_access_secret": lambda w: partial(
        consortium_approvals.collect_machine_access_secret, request=w.approved_request()
    ),
    "consortium.approvals.reject_machine_access": lambda w: partial(
        consortium_approvals.reject_machine_access, request=w.access_request(), note="不需要"
    ),
    "sync.endpoints.change_endpoint": lambda w: partial(
        sync_endpoints.change_endpoint, endpoint=w.endpoint(), changes={"name": "HIS 2"}
    ),
    "sync.endpoints.deactivate_endpoint": lambda w: partial(sync_endpoints.deactivate_endpoint, endpoint=w.endpoint()),
    "sync.endpoints.register_endpoint": lambda w: partial(
        sync_endpoints.register_endpoint, institution=w.city, name="HIS", url="https://his.example.org/fhir", events=["encounter"]
    ),
    "sync.deliveries.replay_dead_deliveries": lambda w: partial(
        sync_deliveries.replay_dead_deliveries, endpoint=w.delivery("dead").endpoint
    ),
    "sync.deliveries.replay_delivery": lambda w: partial(sync_deliveries.replay_delivery, delivery=w.delivery("dead")),
    "sync.deliveries.retry_delivery_now": lambda w: partial(sync_deliveries.retry_delivery_now, delivery=w.delivery()),
    "sync.batches.receive_batch": lambda w: partial(
        sync_batches.receive_batch,
        stream=io.BytesIO(_batch_body()),
        content_length=None,
    ),
}


def _batch_body() -> bytes:
    row = {
        "external_id": "V1",
        "kind": "outpatient",
        "started_at": "2026-11-20T09:30:00+08:00",
        "patient": {"name": "李四", "sex": "M", "birth_date": "1968-05-17"},
        "diagnoses": [{"code": "I10", "primary": True}],
    }
    return json.dumps({"batch_id": "B-1", "institution": "TOWN", "visits": [row]}, ensure_ascii=False).encode()


def _png():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, content_type="image/png")


def _follow_up(w):
    from referrals.models import FollowUpTask

    downward = w.referral("submitted")
    return FollowUpTask.objects.create(referral=downward, kind="revisit", due_on=timezone.localdate())


def _notice(w):
    from records.models import HomeNotice

    return HomeNotice.objects.create(patient=w.patient, institution=w.township, kind="visit_elsewhere", from_institution=w.city)


def _policy():
    return Policy.objects.get()


def _adjudicate(w):
    from insurance import services

    claim = w.claim()
    services.submit_claims(institution=w.township, period=claim.period, actor=SYSTEM)
    decision = services.Adjudication(claim_number=claim.number, outcome="approved", approved_amount=None, reason_codes=[])
    return partial(services.adjudicate_claims, claims_queryset=Claim.objects.all(), decisions=[decision])


def _appeal(w):
    from insurance import services

    _adjudicate(w)(actor=SYSTEM)
    return partial(services.appeal_adjudication, claim=Claim.objects.get(), reason="已补充材料")


def _readjudicate(w):
    from insurance import services

    _adjudicate(w)(actor=SYSTEM)
    return partial(services.readjudicate_claims, claims=list(Claim.objects.all()), reason="政策调整")


def test_every_service_has_a_case():
    missing = [name for name in write_services() if name not in CASES and name not in NOT_ACTIONS]
    assert missing == [], "write a case in tests/test_service_authorization.py for each"
    stale = [name for name in [*CASES, *NOT_ACTIONS] if name not in write_services()]
    assert stale == []


def test_the_services_are_found():
    assert len(write_services()) >= 40
    assert Department  # the world builds departments through the referral setting


@pytest.mark.django_db
@pytest.mark.parametrize("service", sorted(CASES))
@pytest.mark.parametrize("who", ["outsider", "nobody"])
def test_a_service_refuses_an_actor_without_the_right(chain, visit, policy, service, who):  # noqa: F811 (fixtures)
    world = World(chain, visit, policy)
    actor = world.outsider if who == "outsider" else None
    call = CASES[service](world)
    audits = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        call(actor=actor)
    assert AuditEvent.objects.count() == audits
