"""The demo consortium: realistic, valid, deterministic and idempotent."""

import pytest
from django.apps import apps
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from config.demo import seed_demo_consortium
from config.demo_data import DEMO_COUNTY_INSURANCE_TOKEN, DEMO_INSURANCE_TOKEN, DEMO_LOGINS, DEMO_PASSWORD
from consortium.models import Institution, Staff, StaffRole
from records import resident_id
from records.models import Encounter, Patient, identifier_hash

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, int]:
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label in {"consortium", "records", "referrals", "chronic", "insurance", "auth"}
    }


def test_seed_twice_changes_nothing():
    first = seed_demo_consortium()
    assert first.total > 0
    before = snapshot()
    patients_before = list(Patient.objects.order_by("pk").values_list("pk", "name", "resident_id", "updated_at"))
    second = seed_demo_consortium()
    assert second.total == 0
    assert snapshot() == before
    assert list(Patient.objects.order_by("pk").values_list("pk", "name", "resident_id", "updated_at")) == patients_before


@pytest.mark.django_db(transaction=True)
def test_seed_is_deterministic():
    seed_demo_consortium()
    names = sorted(Patient.objects.values_list("name", "resident_id", "birth_date"), key=lambda row: row[1])
    call_command("flush", interactive=False, verbosity=0)
    seed_demo_consortium()
    assert sorted(Patient.objects.values_list("name", "resident_id", "birth_date"), key=lambda row: row[1]) == names


def test_the_prefecture_has_the_expected_shape():
    seed_demo_consortium()
    levels = {level: Institution.objects.filter(level=level).count() for level, _ in Institution._meta.get_field("level").choices}
    assert levels["city_hospital"] == 1
    assert levels["county_hospital"] == 2
    assert levels["township_health_centre"] >= 10
    assert levels["village_clinic"] >= 3
    for institution in Institution.objects.all():
        assert len(institution.region_code) == 6 and institution.region_code.startswith("4205")
        assert institution.departments.exists()
        assert institution.memberships.exists()
    assert Patient.objects.count() >= 300
    assert Encounter.objects.count() >= Patient.objects.count()


def test_every_seeded_patient_has_a_valid_resident_id_matching_birth_date_and_sex():
    seed_demo_consortium()
    for patient in Patient.objects.all():
        parsed = resident_id.parse(patient.resident_id)
        assert parsed.birth_date == patient.birth_date
        assert parsed.sex == patient.sex
        assert patient.resident_id_hash == identifier_hash("resident_id", patient.resident_id)
        assert "\u4e00" <= patient.name[0] <= "\u9fff"


def test_one_demo_login_per_role_with_the_documented_password(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed_demo_consortium()
    roles = set()
    for username, *_rest in DEMO_LOGINS:
        user = authenticate(RequestFactory().post("/login/"), username=username, password=DEMO_PASSWORD)
        assert user is not None, username
        roles.add(Staff.objects.get(user=user).role)
    assert roles == set(StaffRole.values)


def test_demo_patients_come_back_down_with_follow_ups_and_ratings():
    from referrals.models import Direction, FollowUpStatus, Referral, ReferralStatus, SatisfactionRating

    seed_demo_consortium()
    downward = Referral.objects.filter(direction=Direction.DOWN).select_related("upward_referral")
    assert downward.count() >= 6
    for referral in downward:
        assert referral.upward_referral.status == ReferralStatus.COMPLETED
        assert referral.to_institution == referral.upward_referral.from_institution
        assert referral.follow_up_tasks.exists()
        assert referral.events.filter(action="discharge").exists()
    tasks = [task for referral in downward for task in referral.follow_up_tasks.all()]
    assert {task.status for task in tasks} == {FollowUpStatus.OPEN, FollowUpStatus.DONE}
    ratings = SatisfactionRating.objects.select_related("referral")
    assert ratings.count() >= 4
    assert all(rating.referral.status == ReferralStatus.COMPLETED and 1 <= rating.score <= 5 for rating in ratings)
    assert len({rating.recorded_at.date().replace(day=1) for rating in ratings}) >= 3  # spread over months, for the chart


def test_every_printed_document_prints_and_verifies_from_a_demo_login(client):
    """Each document kind has demo data a demo login can print, and its QR link verifies."""
    from chronic.models import Contract
    from diagnostics.models import Order
    from insurance.selectors import claims_visible_to
    from referrals.selectors import referrals_visible_to
    from tests.documents import verdict, verification_link

    seed_demo_consortium()
    user = {s.user.username: s.user for s in Staff.objects.select_related("user")}
    clinic = referrals_visible_to(user["mingfeng_doctor"]).exclude(status="draft")
    accepted = referrals_visible_to(user["city_coordinator"]).filter(status="accepted", appointment_at__isnull=False)
    claim = claims_visible_to(user["mingfeng_clerk"]).first()
    order = Order.objects.filter(ordering_institution__code="YA-MF", report_versions__signed_at__isnull=False).first()
    contract = Contract.objects.filter(team__members__staff__user__username="fengyang_doctor").first()
    pages = [
        ("mingfeng_doctor", f"/referrals/{clinic.filter(direction='up').first().pk}/print/"),
        ("mingfeng_doctor", f"/referrals/{clinic.filter(direction='down').first().pk}/print/"),
        ("city_coordinator", f"/referrals/{accepted.first().pk}/appointment-slip/"),
        ("mingfeng_clerk", f"/insurance/claims/{claim.number}/statement/"),
        ("mingfeng_doctor", f"/diagnostics/orders/{order.pk}/print/"),
        ("fengyang_doctor", f"/chronic/contracts/{contract.pk}/print/"),
    ]
    for username, url in pages:
        client.force_login(user[username])
        response = client.get(url)
        assert response.status_code == 200, url
        assert verdict(verification_link(response.content.decode()))[0] == "valid", url


def test_the_insurer_workflow_has_work_to_do_and_a_closed_month(client):
    """Two offices see the demo: claims waiting to be adjudicated, last month of one centre reconciled and
    closed, this month open; the county office does not see the claims of the other county."""
    import datetime

    from django.utils import timezone

    from consortium.models import InsuranceOffice
    from insurance.models import Claim, ClaimStatus, DiscrepancyKind, PeriodClose, ReconciliationRun

    seed_demo_consortium()
    today = timezone.localdate()
    last_month = (today.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")
    city_office = InsuranceOffice.objects.get(code="YC-YB")
    hls = Institution.objects.get(code="YA-HLS")
    assert PeriodClose.objects.filter(institution=hls, period=last_month, office=city_office).exists()
    run = ReconciliationRun.objects.get(institution=hls, period=last_month, office=city_office)
    assert set(run.discrepancies.values_list("kind", flat=True)) == {DiscrepancyKind.MATCHED}
    submitted = Claim.objects.filter(status=ClaimStatus.SUBMITTED, period=today.strftime("%Y-%m"))
    assert submitted.filter(institution__code="YA-JX").exists() and submitted.filter(institution__code="ZG-GZ").exists()
    url = "/api/v1/insurance/claims/?status=submitted&limit=500"

    def institutions_seen(token):
        body = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").json()
        return {
            claim["institution"]["code"] if isinstance(claim["institution"], dict) else claim["institution"]
            for claim in body["results"]
        }

    seen_by_city = institutions_seen(DEMO_INSURANCE_TOKEN)
    seen_by_county = institutions_seen(DEMO_COUNTY_INSURANCE_TOKEN)
    assert {"YA-JX", "ZG-GZ"} <= seen_by_city
    assert "YA-JX" in seen_by_county and "ZG-GZ" not in seen_by_county  # Zigui is outside the county office's region
