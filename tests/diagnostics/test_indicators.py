"""Diagnostics figures in the dashboard's monthly roll-ups and on the centres' own indicator page."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from dashboard.rollups import compute
from diagnostics import critical, indicators, recognition, services
from diagnostics.models import RecognisedItem

pytestmark = pytest.mark.django_db


def _signed_after(setting, hours: float, n: int):
    start = timezone.now() - datetime.timedelta(hours=hours + 1)
    order = setting.order(
        attachments=[setting.dicom(n=n)], send=True, now=start, repeat_reason="clinically_changed" if n > 1 else ""
    )
    services.claim_order(order.pk, actor=setting.radiologist, now=start)
    return services.sign_report(
        order.pk, actor=setting.radiologist, impression="未见异常", now=start + datetime.timedelta(hours=hours)
    )


def test_turnaround_p50_and_p90_studies_critical_and_recognition_roll_up(setting):
    RecognisedItem.objects.create(consortium=setting.consortium, service_code="XR-CHEST", name="胸片", validity_days=30)
    for n, hours in enumerate([1, 2, 3, 4, 10], start=1):
        _signed_after(setting, hours, n)
    lab = setting.lab_order()
    services.receive_sample(actor=setting.lab_reader, centre=setting.lab, barcode="LB0001")
    services.claim_order(lab.pk, actor=setting.lab_reader)
    services.sign_report(lab.pk, actor=setting.lab_reader, impression="低钾", observations=[{"code": "K", "value": "2.0"}])
    value = lab.critical_values.get()
    critical.acknowledge_critical(value.pk, actor=setting.clinician)
    prior = setting.encounter.diagnostic_orders.filter(service=setting.xray).order_by("reported_at").first()
    recognition.use_prior_result(actor=setting.clinician, encounter=setting.encounter, prior_order_id=prior.pk)
    today = timezone.localdate()
    results = compute(today, today)
    month = today.replace(day=1)
    city = setting.city.pk

    def get(code, scope_id=city):
        return results[(code, "institution", scope_id, month)]

    assert get("dx_turnaround_hours")["value"] == Decimal("3.0000")  # median of 1, 2, 3, 4, 10
    assert get("dx_turnaround_p90_hours")["value"] == Decimal("10.0000")  # nearest rank: the 5th of 5
    assert get("dx_studies", setting.township.pk)["value"] == Decimal("6.0000")
    assert get("dx_critical_in_time", setting.township.pk)["value"] == Decimal("1.0000")
    assert get("dx_recognition_rate", setting.township.pk)["value"] == Decimal("1.0000")
    page = indicators.turnaround([setting.imaging], since=timezone.now() - datetime.timedelta(days=2))
    assert page == [{"centre": "市影像中心", "urgency": "urgent", "count": 5, "p50": 3.0, "p90": 10.0}]


def test_township_coverage_counts_served_townships(setting):
    rows = {row["kind"]: row for row in indicators.township_coverage(setting.consortium)}
    imaging = rows["Imaging centre"]
    assert (imaging["covered"], imaging["townships"]) == (1, 1)
    assert rows["Pathology centre"]["covered"] == 0


def test_township_coverage_by_centre_kind_rolls_up_per_month(setting):
    from consortium.models import Institution, InstitutionLevel, Membership

    setting.order(attachments=[setting.dicom(n=1)], send=True)
    setting.lab_order()
    today = timezone.localdate()
    month = today.replace(day=1)
    results = compute(today, today)
    members = Membership.objects.filter(consortium=setting.consortium).values("institution")
    townships = Institution.objects.filter(pk__in=members, level=InstitutionLevel.TOWNSHIP_HEALTH_CENTRE).count()
    key = ("consortium", setting.consortium.pk, month)
    for code in ("dx_township_coverage", "dx_township_coverage_imaging", "dx_township_coverage_lab"):
        row = results[(code, *key)]
        assert (row["numerator"], row["denominator"]) == (Decimal(1), Decimal(townships))
        assert row["value"] == (Decimal(1) / townships).quantize(Decimal("0.0001"))
    assert ("dx_township_coverage_ecg", *key) not in results  # no ECG study ordered: no figure, not a zero
