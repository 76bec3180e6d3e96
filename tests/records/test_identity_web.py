"""One patient per person: the duplicate check at registration, corrections with history, search as clerks type."""

import datetime

import pytest
from django.urls import reverse

from consortium.models import AuditEvent
from records import resident_id
from records.models import MatchReview, Patient
from records.pinyin import initials, to_pinyin
from tests.factories import PatientFactory, make_resident_id

from .test_web import registration_post

pytestmark = pytest.mark.django_db


def _without_id(**overrides):
    return (
        registration_post(
            resident_id="", registration_key="k-noid", sex="F", birth_date="1975-03-09", name="梁凤君", village="凤阳村"
        )
        | overrides
    )


def test_a_likely_duplicate_is_shown_before_saving(chain, login):
    existing = PatientFactory(
        home_institution=chain["township"],
        name="梁凤君",
        name_pinyin="liang feng jun",
        sex="F",
        birth_date=datetime.date(1975, 3, 9),
        village="凤阳村",
        resident_id=make_resident_id(birth_date=datetime.date(1975, 3, 9), sex="F"),
    )
    client = login(chain["staff"]["clerk"])
    response = client.post(reverse("records:patient-register"), _without_id())
    assert response.status_code == 200 and response.context["candidate"] == existing
    page = response.content.decode()
    assert existing.masked_resident_id in page and existing.resident_id not in page
    assert "凤阳村" in page and "1975-03-09" in page
    assert Patient.objects.count() == 1 and not MatchReview.objects.exists()

    same = client.post(reverse("records:patient-register"), _without_id(decision="same", candidate=existing.pk))
    assert same.url == reverse("records:patient-detail", args=[existing.pk])
    assert Patient.objects.count() == 1

    anyway = client.post(reverse("records:patient-register"), _without_id(decision="register", candidate=existing.pk))
    new = Patient.objects.exclude(pk=existing.pk).get()
    assert anyway.url == reverse("records:patient-detail", args=[new.pk])
    review = MatchReview.objects.get()
    assert (review.patient, review.candidate, review.source) == (new, existing, "registration")


def test_a_different_person_is_registered_without_a_question(chain, login):
    PatientFactory(home_institution=chain["township"], name="王建国", sex="M", birth_date=datetime.date(1950, 1, 1))
    client = login(chain["staff"]["clerk"])
    response = client.post(reverse("records:patient-register"), _without_id())
    assert response.status_code == 302 and Patient.objects.count() == 2 and not MatchReview.objects.exists()


def test_sex_and_birth_date_are_taken_from_the_resident_id(chain, login):
    client = login(chain["staff"]["clerk"])
    rid = make_resident_id(birth_date=datetime.date(1975, 3, 9), sex="F")
    response = client.post(reverse("records:patient-register"), registration_post(resident_id=rid, sex="", birth_date=""))
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert (patient.sex, patient.birth_date) == ("F", resident_id.parse(rid).birth_date)


def test_without_an_id_the_sex_must_be_chosen(chain, login):
    client = login(chain["staff"]["clerk"])
    response = client.post(reverse("records:patient-register"), _without_id(sex=""))
    assert "sex" in response.context["form"].errors and not Patient.objects.exists()


def _edit_post(patient, **overrides):
    data = {
        "name": patient.name,
        "name_pinyin": patient.name_pinyin,
        "resident_id": patient.resident_id,
        "sex": patient.sex,
        "birth_date": patient.birth_date.isoformat(),
        "insurance_number": patient.insurance_number,
        "phone": patient.phone,
        "village": patient.village,
        "address": patient.address,
        "reason": "",
    }
    return data | overrides


def test_patient_edit_is_audited_with_history_and_id_changes_need_a_reason(chain, login, patients):
    patient = patients["town"]
    client = login(chain["staff"]["clerk"])
    url = reverse("records:patient-edit", args=[patient.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, _edit_post(patient, phone="13912345678", insurance_number="INS-42"))
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.phone, patient.insurance_number) == ("13912345678", "INS-42")
    event = AuditEvent.objects.get(action="records.patient_updated")
    assert event.detail["fields"] == ["insurance_number", "phone"] and "13912345678" not in str(event.detail)

    other_id = make_resident_id(birth_date=patient.birth_date, sex=patient.sex, region="420526")
    refused = client.post(url, _edit_post(patient, resident_id=other_id, sex="", birth_date=""))
    assert "reason" in refused.context["form"].errors
    taken_id = patients["village"].resident_id
    taken = client.post(url, _edit_post(patient, resident_id=taken_id, sex="", birth_date="", reason="录入错误"))
    assert "resident_id" in taken.context["form"].errors
    patient.refresh_from_db()
    assert patient.resident_id != other_id
    done = client.post(url, _edit_post(patient, resident_id=other_id, sex="", birth_date="", reason="身份证号录入错误"))
    assert done.status_code == 302
    history = client.get(url).content.decode()
    assert "身份证号录入错误" in history and "phone" in history
    assert login(chain["staff"]["outsider"]).get(url).status_code == 404


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("覃海燕", "qin hai yan"),
        ("单雄", "shan xiong"),
        ("仇英", "qiu ying"),
        ("区华", "ou hua"),
        ("解放", "xie fang"),
        ("曾国藩", "zeng guo fan"),
    ],
)
def test_surnames_are_read_as_surnames(name, expected):
    assert to_pinyin(name) == expected


def test_search_by_joined_pinyin_initials_and_last_digits_with_a_name(chain, login):
    rid = make_resident_id(birth_date=datetime.date(1966, 6, 6), sex="M")
    patient = PatientFactory(
        home_institution=chain["township"], name="梁凤君", name_pinyin="liang feng jun", resident_id=rid, phone="13712345678"
    )
    PatientFactory(home_institution=chain["township"], name="梁福", name_pinyin="liang fu", phone="13700000000")
    client = login(chain["staff"]["clerk"])

    def found(q):
        return list(client.post(reverse("records:patient-search"), {"q": q}).context["results"])

    assert found("liangfengjun") == [patient]
    assert found("liangfeng") == [patient]
    assert found(initials("liang feng jun")) == [patient]
    assert found(f"梁 {rid[-4:]}") == [patient]
    assert found(f"lfj {rid[-6:]}") == [patient]
    assert found("梁 5678") == [patient]
    assert found(rid[-4:]) == [], "a short number alone lists nobody"
