"""The API's one error contract: RFC 9457 problem details with a stable code, in the request's language."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import translation
from rest_framework import exceptions
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from consortium import errors
from consortium.api_auth import LAST_USED_RESOLUTION
from consortium.models import ApiClient, ApiClientKind
from consortium.problems import MEDIA_TYPE, exception_handler, status_of
from tests.problems import fields, problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def office_token(chain):
    client = ApiClient(name="医保接口", kind=ApiClientKind.INSURANCE_OFFICE, insurance_office=chain["office"])
    token = client.issue_token()
    client.save()
    return client, token


@pytest.fixture
def office_api(office_token):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {office_token[1]}")
    return api


class Conflicting(errors.Conflict, errors.Invalid):
    code = "conflicting"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.Invalid("x"), 400),
        (errors.Unprocessable("x"), 422),
        (errors.TooLarge("x"), 413),
        (errors.NotFound("x"), 404),
        (errors.NotPermitted("x"), 403),
        (errors.Conflict("x"), 409),
        (errors.IllegalTransition("x"), 409),
        (errors.ApplicationError("x"), 400),
        (Conflicting("x"), 409),
    ],
)
def test_each_class_has_one_status_the_nearest_in_its_mro(error, status):
    assert status_of(error) == status


def _answer(exc):
    request = APIRequestFactory().get("/api/v1/x/")
    view = APIView()
    view.request = view.initialize_request(request)
    response = exception_handler(exc, {"request": view.request, "view": view})
    assert response.content_type == MEDIA_TYPE
    return response.status_code, response.data


def test_application_errors_carry_code_field_rows_and_extension_members():
    status, body = _answer(
        errors.Conflict("two left", field="period", code="claims_open", extra={"open_claims": ["A-1"], "status": 1})
    )
    assert status == 409 and body["code"] == "claims_open" and body["type"].endswith("/claims_open")
    assert body["detail"] == "two left" and body["status"] == 409 and body["open_claims"] == ["A-1"]
    assert body["errors"] == [{"field": "period", "row": None, "code": "claims_open", "message": "two left"}]
    _status, body = _answer(errors.Unprocessable("bad rows", errors=[{"row": 3, "field": "paid_amount", "reason": "r"}]))
    assert body["errors"] == [{"field": "paid_amount", "row": 3, "code": "unprocessable", "message": "r"}]
    _status, body = _answer(errors.Invalid("m", errors={2: ["row two"], "name": ["n1", "n2"]}))
    assert [(e["row"], e["field"], e["message"]) for e in body["errors"]] == [
        (2, None, "row two"),
        (None, "name", "n1"),
        (None, "name", "n2"),
    ]


def test_django_and_drf_exceptions_become_problems():
    status, body = _answer(DjangoValidationError({"url": DjangoValidationError("bad url", code="bad_url")}))
    assert (
        status == 400
        and body["code"] == "invalid"
        and body["errors"][0]
        == {
            "field": "url",
            "row": None,
            "code": "bad_url",
            "message": "bad url",
        }
    )
    assert _answer(DjangoValidationError("whole"))[1]["errors"][0]["field"] is None
    assert _answer(Http404("secret detail"))[1]["code"] == "not_found"
    assert "secret" not in _answer(Http404("secret detail"))[1]["detail"]
    assert _answer(DjangoPermissionDenied())[0] == 403
    status, body = _answer(exceptions.ValidationError({"results": [{"amount": ["too big"]}, {}], "non_field_errors": ["pair"]}))
    assert {e["field"] for e in body["errors"]} == {"results.0.amount", None}
    status, body = _answer(exceptions.Throttled(wait=7))
    assert status == 429 and body["code"] == "throttled"
    assert _answer(exceptions.MethodNotAllowed("PUT"))[1]["code"] == "method_not_allowed"


def test_unexpected_exceptions_stay_500():
    request = APIRequestFactory().get("/")
    assert exception_handler(KeyError("x"), {"request": request, "view": None}) is None


def test_codes_are_stable_and_messages_follow_the_request_language(chain, office_api):
    zh = problem(office_api.get("/api/v1/insurance/claims/", {"limit": "x"}, HTTP_ACCEPT_LANGUAGE="zh-hans"), 400)
    en = problem(office_api.get("/api/v1/insurance/claims/", {"limit": "x"}, HTTP_ACCEPT_LANGUAGE="en"), 400)
    assert zh["code"] == en["code"] == "out_of_range" and zh["type"] == en["type"]
    assert [e["code"] for e in zh["errors"]] == [e["code"] for e in en["errors"]]
    assert zh["title"] != en["title"] and en["title"] == "The request is invalid."


def test_an_unknown_token_is_401_with_a_challenge(db):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Bearer nope")
    response = api.get("/api/v1/insurance/claims/")
    assert problem(response, 401, "authentication_failed") and response["WWW-Authenticate"] == "Bearer"
    assert problem(APIClient().get("/api/v1/insurance/claims/"), 401, "not_authenticated")


def test_a_csv_export_answers_its_errors_as_problem_json(office_api):
    response = office_api.get("/api/v1/insurance/reconciliations/999/discrepancies.csv", HTTP_ACCEPT="text/csv")
    problem(response, 404, "not_found")


def test_notifications_are_403_to_api_tokens(office_api):
    problem(office_api.get("/api/v1/referrals/notifications/"), 403, "people_only")
    problem(office_api.post("/api/v1/referrals/notifications/read/", {}, format="json"), 403, "people_only")


def test_last_used_at_is_written_at_most_once_a_minute(office_api, office_token):
    client = office_token[0]
    office_api.get("/api/v1/me/")
    first = ApiClient.objects.get(pk=client.pk).last_used_at
    assert first is not None
    office_api.get("/api/v1/me/")
    assert ApiClient.objects.get(pk=client.pk).last_used_at == first
    ApiClient.objects.filter(pk=client.pk).update(last_used_at=first - LAST_USED_RESOLUTION - datetime.timedelta(seconds=1))
    office_api.get("/api/v1/me/")
    assert ApiClient.objects.get(pk=client.pk).last_used_at > first - datetime.timedelta(seconds=1)


def test_a_refused_idempotent_post_is_not_stored_and_can_be_retried(office_api):
    url = "/api/v1/insurance/periods/close/"
    assert fields(
        office_api.post(url, {"institution": "TOWN", "period": "2026-13"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    ) == {"period"}
    again = office_api.post(url, {"institution": "TOWN", "period": "2026-03"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert problem(again, 409)["code"] == "period_not_reconciled"


def test_every_operation_documents_its_problems(office_api):
    with translation.override("en"):
        schema = office_api.get("/api/schema/", {"format": "json"}).json()
    assert "Problem" in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            errors_documented = {code for code in operation["responses"] if code[0] in "45"}
            assert {"401", "403"} <= errors_documented, (method, path)
            if "{" in path:
                assert "404" in errors_documented, (method, path)
            if method == "post":
                assert {"400", "409", "422"} <= errors_documented, (method, path)
            for code in errors_documented:
                assert list(operation["responses"][code]["content"]) == [MEDIA_TYPE], (method, path, code)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "x"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": str(2**63)}, "limit"),
        ({"limit": "１０"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": str(2**63)}, "offset"),
        ({"offset": "1e3"}, "offset"),
    ],
)
def test_limit_and_offset_out_of_range_are_400_with_the_allowed_range(office_api, query, field):
    for url in ("/api/v1/insurance/claims/", "/api/v1/insurance/reconciliations/", "/api/v1/institutions/"):
        body = problem(office_api.get(url, query), 400, "out_of_range")
        assert {e["field"] for e in body["errors"]} == {field} and body["allowed"]["parameter"] == field
        assert body["allowed"]["maximum"] in (500, 2**31 - 1)


def test_the_largest_page_is_allowed(office_api):
    assert office_api.get("/api/v1/insurance/claims/", {"limit": 500, "offset": 2**31 - 1}).status_code == 200


def test_the_schema_is_english_and_the_same_whatever_the_language(office_api):
    zh = office_api.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = office_api.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT_LANGUAGE="en")
    assert zh.status_code == en.status_code == 200
    assert zh.content == en.content
    assert "请求" not in zh.content.decode()


@pytest.mark.django_db
def test_a_nul_in_the_path_or_a_query_parameter_is_a_400_not_a_database_error(client):
    """PostgreSQL refuses NUL in text; the platform answers the same on both databases, before any query."""
    for url in ("/api/v1/insurance/claims/%00/", "/api/v1/insurance/claims/?status=a%00b", "/api/v1/patients/?q%00=1"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response["Content-Type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_characters"
    assert client.get("/records/patients/?q=%00").status_code == 400
