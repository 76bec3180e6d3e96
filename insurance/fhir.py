"""FHIR R4 views of the payer's side: ``ClaimResponse`` of an adjudication, ``PaymentReconciliation``
of a settlement file. Built from our rows and validated with ``fhir.resources.R4B`` (the R4 line,
as records' export) before they are returned.

Patients are named by their insurance number only (no name, resident ID or phone); claims, offices,
institutions and payment trace numbers by identifiers of the platform's own systems below. Line
adjudications use HL7's adjudication categories (submitted, eligible, deductible, benefit) and
reason codes the platform's value set (``ReasonCode``, docs/REASON_CODES.md).
"""

import datetime
import uuid
from decimal import Decimal

from django.db.models import Max, Sum
from django.utils import timezone
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation

from records.fhir_vocabulary import INSTITUTION_SYSTEM, INSURANCE_SYSTEM
from records.models import EncounterKind

from .models import ADJUDICATED, ClaimKind, ClaimStatus, PaymentStatus, ReasonCode

CLAIM_SYSTEM = "urn:consortium:claim"
SCHEME_SYSTEM = "urn:consortium:insurance-scheme"
OFFICE_SYSTEM = "urn:consortium:insurance-office"
SETTLEMENT_FILE_SYSTEM = "urn:consortium:settlement-file"
PAYMENT_TRACE_SYSTEM = "urn:consortium:payment-trace"
REASON_CODE_SYSTEM = "urn:consortium:adjudication-reason"
EXT_PAYMENT_STATUS = "urn:consortium:fhir:payment-status"
EXT_SETTLEMENT_REASON = "urn:consortium:fhir:settlement-reason"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
PAYMENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/payment-type"
EX_PAYMENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"

#: Claims whose adjudication is final for now (an appealed claim waits again: queued).
DECIDED = ADJUDICATED | {ClaimStatus.SETTLED, ClaimStatus.RECONCILED}


def _money(value: Decimal) -> dict:
    return {"value": float(value), "currency": "CNY"}


def _category(code: str) -> dict:
    return {"coding": [{"system": ADJUDICATION_SYSTEM, "code": code}]}


def _reason(code: str, texts: dict[str, str]) -> dict:
    coding = {"system": REASON_CODE_SYSTEM, "code": code}
    if texts.get(code):
        coding["display"] = texts[code]
    return {"coding": [coding]}


def _reason_texts(codes) -> dict[str, str]:
    codes = {c for c in codes if c}
    if not codes:
        return {}
    return {r.code: r.text for r in ReasonCode.objects.filter(code__in=codes).order_by("-office_id")}


def _resource_id(kind: str, value) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"consortium/{kind}/{value}"))


def claim_response(claim) -> dict:
    """The adjudication of ``claim`` as a ClaimResponse (queued while it waits for a decision)."""
    lines = list(claim.lines.all())
    decided = claim.status in DECIDED
    texts = _reason_texts([*claim.reason_codes, *(line.reason_code for line in lines)]) if decided else {}
    inpatient = claim.encounter.kind == EncounterKind.INPATIENT
    items = []
    for line in lines:
        adjudication = [
            {"category": _category("submitted"), "amount": _money(line.amount)},
            {"category": _category("eligible"), "amount": _money(line.eligible)},
        ]
        if decided and line.approved_amount is not None:
            benefit = {"category": _category("benefit"), "amount": _money(line.approved_amount)}
            if line.reason_code:
                benefit["reason"] = _reason(line.reason_code, texts)
            adjudication.append(benefit)
        items.append({"itemSequence": line.sequence or 1, "adjudication": adjudication})
    totals = [
        {"category": _category("submitted"), "amount": _money(claim.total)},
        {"category": _category("eligible"), "amount": _money(claim.eligible)},
        {"category": _category("deductible"), "amount": _money(claim.deductible_applied)},
    ]
    if decided:
        totals.append({"category": _category("benefit"), "amount": _money(claim.expected_payment)})
    resource = {
        "resourceType": "ClaimResponse",
        "id": _resource_id("claim-response", claim.pk),
        "identifier": [{"system": CLAIM_SYSTEM, "value": claim.number}],
        "status": "cancelled" if claim.kind == ClaimKind.ORIGINAL and hasattr(claim, "reversal") else "active",
        "type": {"coding": [{"system": CLAIM_TYPE_SYSTEM, "code": "institutional" if inpatient else "professional"}]},
        "use": "claim",
        "patient": {"identifier": {"system": INSURANCE_SYSTEM, "value": claim.insurance_number}},
        "created": (claim.adjudicated_at or claim.updated_at or timezone.now()).isoformat(),
        "insurer": {"identifier": {"system": SCHEME_SYSTEM, "value": claim.scheme.code}, "display": claim.scheme.name},
        "requestor": {"identifier": {"system": INSTITUTION_SYSTEM, "value": claim.institution.code}},
        "request": {
            "identifier": {"system": CLAIM_SYSTEM, "value": claim.reverses.number if claim.reverses_id else claim.number}
        },
        "outcome": "complete" if decided else "queued",
        "disposition": str(ClaimStatus(claim.status).label),
        "total": totals,
    }
    if items:
        resource["item"] = items
    if decided and claim.reason_codes:
        resource["processNote"] = [
            {"number": index + 1, "type": "display", "text": texts.get(code, code)}
            for index, code in enumerate(claim.reason_codes)
        ]
    if claim.settled_amount is not None:
        resource["payment"] = {
            "type": {"coding": [{"system": EX_PAYMENT_TYPE_SYSTEM, "code": "complete"}]},
            "amount": _money(claim.settled_amount),
            **({"date": timezone.localtime(claim.settled_at).date().isoformat()} if claim.settled_at else {}),
        }
    ClaimResponse.model_validate(resource)
    return resource


def payment_reconciliation(settlement, lines, *, institution_code: str | None = None) -> dict:
    """A settlement file as a PaymentReconciliation: one ``detail`` per line of ``lines`` (a page of
    them); the payment amount and date are the whole file's (or the institution's part of it)."""
    all_lines = settlement.lines.all()
    if institution_code:
        all_lines = all_lines.filter(institution_code=institution_code)
    summary = all_lines.filter(payment_status=PaymentStatus.PAID).aggregate(total=Sum("paid_amount"), last=Max("payment_date"))
    total = Decimal(summary["total"] or 0).quantize(Decimal("0.01"))
    payment_date = summary["last"] or timezone.localtime(settlement.uploaded_at).date()
    year, month = (int(part) for part in settlement.period.split("-"))
    start = datetime.date(year, month, 1)
    end = (start + datetime.timedelta(days=32)).replace(day=1) - datetime.timedelta(days=1)
    details = []
    for line in lines:
        detail = {
            "type": {"coding": [{"system": PAYMENT_TYPE_SYSTEM, "code": "adjustment" if line.reverses_reference else "payment"}]},
            "request": {"identifier": {"system": CLAIM_SYSTEM, "value": line.claim_number}},
            "submitter": {"identifier": {"system": INSTITUTION_SYSTEM, "value": line.institution_code}},
            "amount": _money(line.paid_amount),
            "extension": [{"url": EXT_PAYMENT_STATUS, "valueCode": line.payment_status}],
        }
        if line.reason_code:
            detail["extension"].append({"url": EXT_SETTLEMENT_REASON, "valueString": line.reason_code})
        if line.payment_reference:
            detail["identifier"] = {"system": PAYMENT_TRACE_SYSTEM, "value": line.payment_reference}
        if line.reverses_reference:
            detail["predecessor"] = {"system": PAYMENT_TRACE_SYSTEM, "value": line.reverses_reference}
        if line.payment_date:
            detail["date"] = line.payment_date.isoformat()
        details.append(detail)
    resource = {
        "resourceType": "PaymentReconciliation",
        "id": _resource_id("settlement-file", settlement.pk),
        "identifier": [{"system": SETTLEMENT_FILE_SYSTEM, "value": settlement.sha256 or str(settlement.pk)}],
        "status": "active",
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "created": settlement.uploaded_at.isoformat(),
        "paymentIssuer": {
            "identifier": {"system": OFFICE_SYSTEM, "value": settlement.office.code},
            "display": settlement.office.name,
        },
        "outcome": "complete",
        "paymentDate": payment_date.isoformat(),
        "paymentAmount": _money(total),
    }
    if details:
        resource["detail"] = details
    PaymentReconciliation.model_validate(resource)
    return resource
