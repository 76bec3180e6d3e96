import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from consortium.models import AuditEvent, OutboxEvent
from records import resident_id
from records.models import AccessLog, ChargeItem, Consent, Encounter, Patient
from tests.factories import make_resident_id

pytestmark = pytest.mark.django_db


def registration_post(**overrides):
    rid = make_resident_id(birth_date=datetime.date(1975, 3, 9), sex="F")
    data = {
        "registration_key": "k-" + rid,
        "name": "刘芳",
        "name_pinyin": "",
        "resident_id": rid,
        "sex": "F",
        "birth_date": "",
        "insurance_number": "",
        "phone": "13800138000",
        "village": "凤阳村",
        "address": "",
        "consents_to_sharing": "on",
    }
    return data | overrides


def test_register_patient_fills_birth_date_and_pinyin_and_consent(chain, login):
    client = login(chain["staff"]["clerk"])
    response = client.post(reverse("records:patient-register"), registration_post())
    patient = Patient.objects.get(name="刘芳")
    assert response.status_code == 302 and response.url == reverse("records:patient-detail", args=[patient.pk])
    assert patient.birth_date == resident_id.parse(patient.resident_id).birth_date
    assert patient.name_pinyin == "liu fang"
    assert patient.home_institution == chain["township"]
    assert patient.consents_to_sharing and Consent.objects.filter(patient=patient, granted=True).count() == 1
    event = AuditEvent.objects.get(action="records.patient_registered")
    assert patient.resident_id not in str(event.detail) and "刘芳" not in str(event.detail)


def test_registration_retry_creates_no_duplicate(chain, login):
    client = login(chain["staff"]["clerk"])
    data = registration_post()
    first = client.post(reverse("records:patient-register"), data)
    second = client.post(reverse("records:patient-register"), data)
    assert first.url == second.url
    assert Patient.objects.filter(name="刘芳").count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"resident_id": "420525197503091234"}, "resident_id", "check digit"),
        ({"resident_id": "4205251975"}, "resident_id", "18 characters"),
        ({"name": ""}, "name", ""),
        ({"sex": "M"}, "sex", "does not match"),
        ({"birth_date": "1950-01-01"}, "birth_date", "does not match"),
        ({"resident_id": "", "birth_date": ""}, "birth_date", "birth date"),
        ({"phone": "12ab"}, "phone", "7 to 15 digits"),
    ],
)
def test_registration_errors_are_inline_and_nothing_is_written(chain, login, overrides, field, fragment, settings):
    settings.LANGUAGE_CODE = "en"
    client = login(chain["staff"]["clerk"])
    response = client.post(reverse("records:patient-register"), registration_post(**overrides), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors
    assert fragment.lower() in " ".join(errors[field]).lower()
    assert not Patient.objects.exists() and not AuditEvent.objects.exclude(action="consortium.login").exists()


def test_duplicate_resident_id_is_a_field_error(chain, login, patients):
    client = login(chain["staff"]["clerk"])
    existing = patients["town"]
    response = client.post(
        reverse("records:patient-register"),
        registration_post(resident_id=existing.resident_id, sex=existing.sex, registration_key="other"),
    )
    assert response.status_code == 200 and "resident_id" in response.context["form"].errors
    assert Patient.objects.count() == 4


def test_search_by_name_pinyin_and_resident_id_only_returns_readable(chain, login, patients):
    client = login(chain["staff"]["clerk"])
    url = reverse("records:patient-search")
    assert list(client.post(url, {"q": "李秀"}).context["results"]) == [patients["town"]]
    assert list(client.post(url, {"q": "li xiu"}).context["results"]) == [patients["town"]]
    assert list(client.post(url, {"q": patients["town"].resident_id}).context["results"]) == [patients["town"]]
    assert list(client.post(url, {"q": patients["outsider"].resident_id}).context["results"]) == []
    assert list(client.post(url, {"q": "赵敏"}).context["results"]) == []


def test_patient_page_masks_identifiers_for_readers_from_elsewhere(chain, login, patients):
    village_patient = patients["village"]
    page = login(chain["staff"]["coordinator"]).get(reverse("records:patient-detail", args=[village_patient.pk]))
    assert page.status_code == 200
    assert village_patient.resident_id not in page.content.decode()
    assert village_patient.masked_resident_id in page.content.decode()
    own = login(chain["staff"]["clerk"]).get(reverse("records:patient-detail", args=[patients["town"].pk]))
    assert patients["town"].resident_id in own.content.decode()


def visit_post(**overrides):
    data = {
        "kind": "outpatient",
        "started_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "ended_at": "",
        "chief_complaint": "头痛两天",
        "department": "",
        "attending": "",
        "dx-TOTAL_FORMS": "3",
        "dx-INITIAL_FORMS": "0",
        "dx-0-code": "I10",
        "dx-0-is_primary": "on",
        "rx-TOTAL_FORMS": "3",
        "rx-INITIAL_FORMS": "0",
        "rx-0-drug_name": "硝苯地平缓释片",
        "rx-0-dose": "10mg",
        "rx-0-frequency": "bid",
        "rx-0-days": "7",
        "obs-TOTAL_FORMS": "3",
        "obs-INITIAL_FORMS": "0",
        "obs-0-kind": "vital",
        "obs-0-code": "SBP",
        "obs-0-name": "收缩压",
        "obs-0-value": "162",
        "obs-0-unit": "mmHg",
        "obs-0-reference_low": "90",
        "obs-0-reference_high": "139",
        "charge-TOTAL_FORMS": "3",
        "charge-INITIAL_FORMS": "0",
        "charge-0-item_code": "XJ02",
        "charge-0-name": "硝苯地平缓释片",
        "charge-0-category": "drug",
        "charge-0-catalogue_class": "B",
        "charge-0-quantity": "3",
        "charge-0-unit_price": "4.34",
    }
    return data | overrides


def test_record_visit_writes_everything_with_outbox(chain, login, patients):
    client = login(chain["staff"]["clinician"])
    patient = patients["town"]
    response = client.post(reverse("records:encounter-create", args=[patient.pk]), visit_post())
    assert response.status_code == 302, response.context and response.context["form"].errors
    encounter = Encounter.objects.get(patient=patient)
    assert encounter.diagnoses.get().code == "I10" and encounter.diagnoses.get().description == "原发性高血压"
    assert encounter.prescriptions.get().days == 7
    assert encounter.observations.get().out_of_range
    assert ChargeItem.objects.get(encounter=encounter).amount == __import__("decimal").Decimal("13.02")
    assert OutboxEvent.objects.filter(event_type="encounter", aggregate_id=str(encounter.pk)).exists()
    timeline = client.get(reverse("records:patient-detail", args=[patient.pk])).content.decode()
    assert "原发性高血压" in timeline and "硝苯地平缓释片" in timeline


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"dx-0-code": "X99.9"}, "diagnoses"),
        ({"dx-1-code": "J06.9", "dx-1-is_primary": "on"}, "diagnoses"),
        ({"charge-0-catalogue_class": ""}, "charge_items"),
        ({"charge-0-quantity": ""}, "charge_items"),
        ({"obs-0-reference_low": "200"}, "observations"),
        ({"started_at": "2999-01-01T10:00"}, "started_at"),
        ({"rx-0-days": "0"}, "prescriptions"),
    ],
)
def test_bad_visit_input_shows_errors_and_writes_nothing(chain, login, patients, overrides, where):
    client = login(chain["staff"]["clinician"])
    response = client.post(reverse("records:encounter-create", args=[patients["town"].pk]), visit_post(**overrides))
    assert response.status_code == 200
    context = response.context
    errors = (
        context["form"].errors.get(where)
        or context["section_errors"].get(where)
        or (where in context["sections"] and any(f.errors for f in context["sections"][where]))
    )
    assert errors
    assert not Encounter.objects.exists() and not OutboxEvent.objects.exists()


def test_edit_visit_keeps_history(chain, login, patients):
    client = login(chain["staff"]["clinician"])
    client.post(reverse("records:encounter-create", args=[patients["town"].pk]), visit_post())
    encounter = Encounter.objects.get()
    data = {
        "kind": "follow_up",
        "started_at": timezone.localtime(encounter.started_at).strftime("%Y-%m-%dT%H:%M"),
        "ended_at": "",
        "chief_complaint": "头痛缓解",
        "department": "",
        "attending": "",
        "diagnoses": "I10，E11.9",
    }
    bad = client.post(reverse("records:encounter-edit", args=[encounter.pk]), data | {"diagnoses": "I10, X99.9"})
    assert bad.status_code == 200 and bad.context["form"].errors["diagnoses"]
    assert not encounter.revisions.exists()
    response = client.post(reverse("records:encounter-edit", args=[encounter.pk]), data)
    assert response.status_code == 302
    revision = encounter.revisions.get()
    assert revision.changed_by == chain["staff"]["clinician"].user
    assert revision.changes["chief_complaint"] == {"from": "头痛两天", "to": "头痛缓解"}
    assert revision.changes["kind"] == {"from": "outpatient", "to": "follow_up"}
    assert revision.changes["diagnoses"] == {"from": ["I10"], "to": ["I10", "E11.9"]}
    assert list(encounter.diagnoses.order_by("-is_primary", "pk").values_list("code", "is_primary")) == [
        ("I10", True),
        ("E11.9", False),
    ]
    history = client.get(reverse("records:encounter-edit", args=[encounter.pk])).content.decode()
    assert "头痛缓解" in history


def test_icd10_search_fragment(chain, login):
    response = login(chain["staff"]["clinician"]).get(reverse("records:icd10-search"), {"q": "高血压"})
    assert b'value="I10"' in response.content


def test_every_web_read_is_logged(chain, login, patients):
    client = login(chain["staff"]["clinician"])
    patient = patients["town"]
    for name in ("records:patient-detail", "records:encounter-create"):
        client.get(reverse(name, args=[patient.pk]))
    paths = list(AccessLog.objects.filter(patient=patient).values_list("path", "reason"))
    assert (reverse("records:patient-detail", args=[patient.pk]), "own_institution") in paths
    assert (reverse("records:encounter-create", args=[patient.pk]), "own_institution") in paths


def test_allergy_is_recorded_once_and_reads_are_logged(chain, login, patients):
    from records.models import Allergy

    client = login(chain["staff"]["clinician"])
    patient = patients["town"]
    url = reverse("records:patient-allergy", args=[patient.pk])
    assert client.post(url, {"substance": "青霉素", "reaction": "皮疹"}).status_code == 302
    again = client.post(url, {"substance": "青霉素"}, follow=True)
    assert any("already" in str(m) or "已" in str(m) for m in again.context["messages"])
    empty = client.post(url, {"substance": ""}, follow=True)
    assert len(list(empty.context["messages"])) == 1
    assert list(Allergy.objects.values_list("substance", flat=True)) == ["青霉素"]
    assert AccessLog.objects.filter(patient=patient, path=url).count() == 3
    other = client.post(reverse("records:patient-allergy", args=[patients["city"].pk]), {"substance": "花粉"})
    assert other.status_code == 404 and Allergy.objects.count() == 1


def test_edit_and_consent_paths_are_logged(chain, login, patients):
    from tests.factories import EncounterFactory

    client = login(chain["staff"]["clinician"])
    patient = patients["town"]
    encounter = EncounterFactory(patient=patient)
    edit = reverse("records:encounter-edit", args=[encounter.pk])
    consent = reverse("records:patient-consent", args=[patient.pk])
    client.get(edit)
    client.post(consent, {"granted": "yes"})
    assert set(AccessLog.objects.filter(patient=patient).values_list("path", flat=True)) == {edit, consent}


def test_the_web_form_takes_only_catalogue_codes_through_the_one_icd10_rule(chain, login, patients):
    """A code of the right shape that the catalogue lacks is refused by ``records.icd10.check_code``, on the form."""
    from django.utils import translation

    client = login(chain["staff"]["clinician"])
    with translation.override("en"):
        response = client.post(
            reverse("records:encounter-create", args=[patients["town"].pk]),
            visit_post(**{"dx-0-code": "Z99.99"}),
            HTTP_ACCEPT_LANGUAGE="en",
        )
    assert response.status_code == 200
    row_errors = response.context["sections"]["diagnoses"].forms[0].errors.get("code")
    assert any("Z99.99" in str(error) and "ICD-10" in str(error) for error in row_errors), "on the row of that code"
    assert not Encounter.objects.exists() and not OutboxEvent.objects.exists()
