"""Audit action names come from one enumeration per app, each named ``<app>.<what happened>``."""

import importlib

import pytest
from django.apps import apps

from consortium.audit import AuditAction, all_audit_actions
from consortium.models import Institution
from consortium.services import record_audit_event

PREFIX = {"records": "records.", "referrals": "referral.", "insurance": "insurance.", "sync": "sync.", "dashboard": "dashboard."}


def test_every_app_that_audits_has_its_enumeration_and_every_name_its_prefix():
    for label, prefix in PREFIX.items():
        importlib.import_module(f"{apps.get_app_config(label).name}.audit")
    members = all_audit_actions()
    assert members
    for member in members:
        app = type(member).__module__.split(".")[0]
        assert member.value.startswith(PREFIX.get(app, f"{app}.")), member


@pytest.mark.django_db
def test_a_free_string_is_refused():
    institution = Institution.objects.create(code="AUD001", name="审计测试", level="township_health_centre", region_code="420525")
    with pytest.raises(TypeError):
        record_audit_event(actor=None, action="household_economics_recorded", obj=institution)


def test_the_base_has_no_members():
    assert list(AuditAction) == []
