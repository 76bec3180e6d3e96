"""Policies are versioned data: a version in force is never edited, a new version replaces it."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from consortium.permissions import SYSTEM
from insurance import services
from insurance.models import Policy, PolicyLevelRule, PolicyStatus

from .conftest import YEAR, at


def test_new_version_then_publish_supersedes_and_old_claims_keep_their_version(chain, policy, visit):
    old_claim = services.create_claim(encounter=visit(), actor=SYSTEM)
    draft = services.new_policy_version(policy=policy, actor=SYSTEM)
    assert (draft.version, draft.status, draft.level_rules.count()) == (2, PolicyStatus.DRAFT, 4)
    rule = draft.level_rules.get(level="township_health_centre")
    rule.ratio = Decimal("0.90")
    rule.unreferred_ratio = Decimal("0.90")
    rule.save()
    services.publish_policy(policy=draft, actor=SYSTEM)
    policy.refresh_from_db()
    assert policy.status == PolicyStatus.SUPERSEDED
    new_claim = services.create_claim(encounter=visit(when=at(day=20)), actor=SYSTEM)
    assert new_claim.policy == draft and new_claim.reimbursed == Decimal("360.00")
    old_claim.refresh_from_db()
    assert old_claim.policy == policy and old_claim.reimbursed == Decimal("340.00")


def test_a_version_in_force_refuses_changes_even_through_the_orm(policy):
    policy.class_b_self_pay_share = Decimal("0.5")
    with pytest.raises(ValidationError):
        policy.save()
    rule = policy.level_rules.first()
    rule.ratio = Decimal("0.99")
    with pytest.raises(ValidationError):
        rule.save()
    with pytest.raises(ValidationError):
        rule.delete()
    policy.refresh_from_db()
    assert policy.class_b_self_pay_share == Decimal("0.1000")


def test_only_drafts_publish_and_a_draft_needs_rules(scheme, policy):
    with pytest.raises(ValidationError):
        services.publish_policy(policy=policy, actor=SYSTEM)
    empty = Policy.objects.create(scheme=scheme, year=YEAR, version=5)
    with pytest.raises(ValidationError):
        services.publish_policy(policy=empty, actor=SYSTEM)


def test_database_refuses_two_versions_in_force_and_unreferred_above_normal(scheme, policy):
    with pytest.raises(IntegrityError), transaction.atomic():
        Policy.objects.create(scheme=scheme, year=YEAR, version=9, status=PolicyStatus.IN_FORCE)
    draft = Policy.objects.create(scheme=scheme, year=YEAR, version=3)
    with pytest.raises(IntegrityError), transaction.atomic():
        PolicyLevelRule.objects.create(
            policy=draft,
            level="city_hospital",
            deductible=1,
            ratio=Decimal("0.5"),
            unreferred_ratio=Decimal("0.6"),
            annual_ceiling=1,
        )


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")
    client.force_login(user)
    return client


def test_admin_refuses_to_edit_a_policy_in_force(admin_client, policy):
    url = reverse("admin:insurance_policy_change", args=[policy.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'name="class_b_self_pay_share"' not in page.content.decode()  # read-only once in force
    rule = policy.level_rules.get(level="township_health_centre")
    data = {
        "scheme": policy.scheme_id,
        "year": YEAR,
        "version": 1,
        "class_b_self_pay_share": "0.5",
        "notes": "",
        "level_rules-TOTAL_FORMS": "1",
        "level_rules-INITIAL_FORMS": "1",
        "level_rules-MIN_NUM_FORMS": "0",
        "level_rules-MAX_NUM_FORMS": "1000",
        "level_rules-0-id": rule.pk,
        "level_rules-0-policy": policy.pk,
        "level_rules-0-level": rule.level,
        "level_rules-0-deductible": "1",
        "level_rules-0-ratio": "0.99",
        "level_rules-0-unreferred_ratio": "0.99",
        "level_rules-0-annual_ceiling": "1",
    }
    assert admin_client.post(url, data).status_code == 403
    rule.refresh_from_db()
    policy.refresh_from_db()
    assert rule.ratio == Decimal("0.8500") and policy.class_b_self_pay_share == Decimal("0.1000")


def test_admin_new_version_action(admin_client, policy):
    response = admin_client.post(
        reverse("admin:insurance_policy_changelist"), {"action": "make_new_version", "_selected_action": [policy.pk]}
    )
    assert response.status_code == 302
    assert Policy.objects.filter(version=2, status=PolicyStatus.DRAFT).exists()


def test_admin_validates_a_draft_policy(admin_client, policy):
    draft = services.new_policy_version(policy=policy, actor=SYSTEM)
    rule = draft.level_rules.get(level="city_hospital")
    url = reverse("admin:insurance_policy_change", args=[draft.pk])
    data = {
        "scheme": draft.scheme_id, "year": YEAR, "version": draft.version, "class_b_self_pay_share": "1.5", "notes": "",
        "level_rules-TOTAL_FORMS": "1", "level_rules-INITIAL_FORMS": "1", "level_rules-MIN_NUM_FORMS": "0",
        "level_rules-MAX_NUM_FORMS": "1000", "level_rules-0-id": rule.pk, "level_rules-0-policy": draft.pk,
        "level_rules-0-level": rule.level, "level_rules-0-deductible": "-1", "level_rules-0-ratio": "0.50",
        "level_rules-0-unreferred_ratio": "0.70", "level_rules-0-annual_ceiling": "1000",
    }  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["class_b_self_pay_share"]
    inline_errors = str(response.context["inline_admin_formsets"][0].formset.errors)
    assert "deductible" in inline_errors and "未转诊报销比例不得高于正常报销比例" in inline_errors
    rule.refresh_from_db()
    assert rule.unreferred_ratio == Decimal("0.4000")
