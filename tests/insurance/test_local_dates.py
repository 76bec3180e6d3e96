"""A visit at 02:00 Beijing time is dated by its Beijing day in the claim form and the insurer API."""

import datetime

import pytest
from django.urls import reverse

from consortium.permissions import SYSTEM
from insurance import services
from tests.clock import frozen_at

pytestmark = pytest.mark.django_db

BEIJING_2AM = datetime.datetime.fromisoformat("2026-03-10T02:00+08:00")


def test_the_claim_forms_visit_list_shows_the_beijing_date(chain, login, visit):
    encounter = visit(when=BEIJING_2AM)
    client = login(chain["staff"]["clerk"])
    with frozen_at("2026-03-10T02:30+08:00"):
        page = client.get(reverse("insurance:claim-list")).content.decode()
    assert f'<option value="{encounter.pk}">2026-03-10 02:00 · ' in page
    assert "2026-03-09" not in page


def test_the_claims_api_gives_the_visits_local_date(visit, office_api):
    claim = services.create_claim(encounter=visit(when=BEIJING_2AM), actor=SYSTEM)
    data = office_api.get(reverse("api-insurance-claim-detail", args=[claim.number])).data
    assert data["visit_date"] == "2026-03-10"
    listing = office_api.get(reverse("api-insurance-claim-list")).data["results"]
    assert [row["visit_date"] for row in listing] == ["2026-03-10"]
