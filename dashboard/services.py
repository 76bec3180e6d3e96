"""Writes of the dashboard app: storing roll-ups, recomputing warnings, recording household income.

Roll-ups are idempotent: re-running a month replaces its values, and a row whose numbers did not
change is left untouched (so running twice writes nothing the second time).
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consortium.models import Consortium
from consortium.permissions import Action, require
from consortium.services import record_audit_event
from records.models import Patient

from . import rollups
from .audit import DashboardAudit
from .expenditure import Thresholds, candidates, decide, patients_with_self_pay, to_fen, window_start
from .models import ExpenditureWarning, FundMonth, HouseholdEconomics, IncomeBand, IndicatorValue, WarningStatus

FUND_FIELDS = ["claims", "total_charges", "reimbursed", "self_pay", "settled", "reimbursement_ratio"]
FUND_FIELDS += ["reconciled_claims", "matched", "discrepancies", "open_discrepancies"]
INDICATOR_FIELDS = ["numerator", "denominator", "value"]


@dataclass
class WriteCount:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    details: dict = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted


def _without_jit() -> None:
    """No JIT compilation for the roll-up's statements (PostgreSQL, this transaction only).

    Their plans cost enough to be compiled at province scale, and compiling took longer than it
    saved: 1.2 s of a 3.4 s statement at 16 counties, 110 s of roll-up against 94 s without.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def run_rollups(*, first: datetime.date, last: datetime.date, today: datetime.date | None = None) -> WriteCount:
    """Recompute and store every indicator and fund month from ``first``'s month to ``last``'s month."""
    if first > last:
        raise ValidationError({"first": _("The first month must not be after the last.")})
    months = rollups.months_between(first, last)
    with transaction.atomic():  # read only; its own transaction, so the rows below are locked only to write
        _without_jit()
        values = rollups.compute(first, last, today=today)
        funds = rollups.fund_months(first, last)
    now = timezone.now()
    count = WriteCount()
    with transaction.atomic():
        existing = {
            (row.indicator, row.scope, row.scope_id, row.month): row
            for row in IndicatorValue.objects.select_for_update().filter(month__in=months)
        }
        to_create, to_update = [], []
        for key, numbers in values.items():
            row = existing.pop(key, None)
            if row is None:
                indicator, scope, scope_id, month = key
                to_create.append(
                    IndicatorValue(indicator=indicator, scope=scope, scope_id=scope_id, month=month, computed_at=now, **numbers)
                )
            elif any(getattr(row, name) != numbers[name] for name in INDICATOR_FIELDS):
                for name in INDICATOR_FIELDS:
                    setattr(row, name, numbers[name])
                row.computed_at = now
                to_update.append(row)
        IndicatorValue.objects.bulk_create(to_create, batch_size=1000)
        IndicatorValue.objects.bulk_update(to_update, [*INDICATOR_FIELDS, "computed_at"], batch_size=1000)
        IndicatorValue.objects.filter(pk__in=[row.pk for row in existing.values()]).delete()
        count.created, count.updated, count.deleted = len(to_create), len(to_update), len(existing)

        existing_funds = {
            (row.institution_id, row.month): row for row in FundMonth.objects.select_for_update().filter(month__in=months)
        }
        fund_create, fund_update = [], []
        for (institution_id, month), numbers in funds.items():
            row = existing_funds.pop((institution_id, month), None) or FundMonth(institution_id=institution_id, month=month)
            blank = FundMonth()
            changed = row.pk is None
            for name in FUND_FIELDS:
                new = numbers.get(name, getattr(blank, name))
                if getattr(row, name) != new:
                    setattr(row, name, new)
                    changed = True
            if changed:
                row.computed_at = now
                (fund_update if row.pk else fund_create).append(row)
        FundMonth.objects.bulk_create(fund_create, batch_size=1000)
        FundMonth.objects.bulk_update(fund_update, [*FUND_FIELDS, "computed_at"], batch_size=1000)
        FundMonth.objects.filter(pk__in=[row.pk for row in existing_funds.values()]).delete()
        count.details["fund_months"] = len(fund_create) + len(fund_update) + len(existing_funds)
    return count


def recompute_expenditure_warnings(*, today: datetime.date | None = None, actor=None) -> WriteCount:
    """Flag, refresh or clear catastrophic-expenditure warnings for every consortium's patients."""
    today = today or timezone.localdate()
    now = timezone.now()
    count = WriteCount()
    flagged_ids: set[int] = set()
    for consortium in Consortium.objects.order_by("pk"):
        thresholds = Thresholds.for_consortium(consortium)
        start = window_start(today, thresholds.window_months)
        near = candidates(patients_with_self_pay(consortium, start, today, thresholds), thresholds).distinct()
        rows = near.values("pk", "self_pay_total", "visit_count", "flag_institution", "income")
        with transaction.atomic():
            existing = {
                w.patient_id: w
                for w in ExpenditureWarning.objects.select_for_update().filter(
                    patient__home_institution__memberships__consortium=consortium
                )
            }
            for row in rows:
                self_pay = to_fen(row["self_pay_total"])
                income = to_fen(row["income"]) if row["income"] is not None else None
                decision = decide(self_pay, income, thresholds)
                if not decision.flagged:
                    continue
                flagged_ids.add(row["pk"])
                numbers = {
                    "institution_id": row["flag_institution"],
                    "status": WarningStatus.OPEN,
                    "self_pay": self_pay,
                    "visits": row["visit_count"],
                    "window_start": start,
                    "window_end": today,
                    "absolute_threshold": thresholds.absolute,
                    "relative_share": thresholds.relative_share,
                    "reference_income": income,
                    "relative_threshold": decision.relative_threshold,
                    "over_absolute": decision.over_absolute,
                    "over_relative": decision.over_relative,
                }
                warning = existing.get(row["pk"])
                if warning is None:
                    warning = ExpenditureWarning.objects.create(
                        patient_id=row["pk"], first_flagged_at=now, computed_at=now, **numbers
                    )
                    existing[row["pk"]] = warning
                    count.created += 1
                    record_audit_event(
                        actor=actor,
                        action=DashboardAudit.EXPENDITURE_WARNING_RAISED,
                        obj=warning,
                        institution=warning.institution,
                        detail={
                            "self_pay": str(warning.self_pay),
                            "over_absolute": decision.over_absolute,
                            "over_relative": decision.over_relative,
                        },
                    )
                elif any(getattr(warning, name) != value for name, value in numbers.items()):
                    if warning.status == WarningStatus.CLEARED:
                        warning.first_flagged_at = now
                    for name, value in numbers.items():
                        setattr(warning, name, value)
                    warning.computed_at = now
                    warning.save()
                    count.updated += 1
            for patient_id, warning in existing.items():
                if patient_id not in flagged_ids and warning.status == WarningStatus.OPEN:
                    warning.status = WarningStatus.CLEARED
                    warning.computed_at = now
                    warning.save(update_fields=["status", "computed_at"])
                    count.deleted += 1
                    record_audit_event(
                        actor=actor,
                        action=DashboardAudit.EXPENDITURE_WARNING_CLEARED,
                        obj=warning,
                        institution=warning.institution,
                        detail={},
                    )
    count.details["open"] = len(flagged_ids)
    return count


def record_household_economics(*, patient: Patient, income_band: str, annual_income: Decimal | None, actor) -> HouseholdEconomics:
    """Record what is known of the patient's household income (for the relative threshold).

    Clinic staff of the patient's home institution record it (those who record its visits).
    """
    require(actor, Action.RECORD_ENCOUNTER, patient.home_institution_id)
    errors = {}
    if income_band and income_band not in IncomeBand.values:
        errors["income_band"] = _("Choose one of the income bands.")
    if annual_income is not None and annual_income < 0:
        errors["annual_income"] = _("The income cannot be negative.")
    if not income_band and annual_income is None:
        errors["income_band"] = _("Give an income band or the annual income.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        household, _created = HouseholdEconomics.objects.update_or_create(
            patient=patient, defaults={"income_band": income_band or "", "annual_income": annual_income}
        )
        record_audit_event(
            actor=actor,
            action=DashboardAudit.HOUSEHOLD_ECONOMICS_RECORDED,
            obj=household,
            institution=patient.home_institution,
            detail={"income_band": income_band or "", "income_recorded": annual_income is not None},
        )
    return household
