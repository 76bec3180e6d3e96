"""The OpenAPI schema is one a code generator can use: JSON bodies, binary uploads, stable names, pages."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.generics import ListAPIView
from rest_framework.test import APIClient

from consortium.problems import MEDIA_TYPE

pytestmark = pytest.mark.django_db

UPLOADS = {
    "/api/v1/insurance/settlement-files/",
    "/api/v1/insurance/out-of-county-files/",
    "/api/v1/diagnostics/orders/{id}/attachments/",
    "/api/v1/referrals/{id}/attachments/",
}


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        user, _ = get_user_model().objects.get_or_create(username="schema-reader", defaults={"is_staff": True})
        api = APIClient()
        api.force_authenticate(user)
        response = api.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200
        return response.json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def _resolve(schema, ref_or_schema):
    if "$ref" in ref_or_schema:
        return schema["components"]["schemas"][ref_or_schema["$ref"].rsplit("/", 1)[1]]
    return ref_or_schema


#: Bodies documented in FHIR's own media type (``application/fhir+json``; plain JSON is read as well).
FHIR_BODIES = {"/api/v1/fhir/"}


def test_json_bodies_are_json_only_and_uploads_multipart_only(schema):
    uploads, fhir = set(), set()
    for path, method, operation in _operations(schema):
        content = operation.get("requestBody", {}).get("content", {})
        if not content:
            continue
        if "multipart/form-data" in content:
            uploads.add(path)
            assert list(content) == ["multipart/form-data"], (method, path)
        elif path in FHIR_BODIES:
            fhir.add(path)
            assert list(content) == ["application/fhir+json"], (method, path, list(content))
        else:
            assert list(content) == ["application/json"], (method, path, list(content))
    assert uploads == UPLOADS
    assert fhir == FHIR_BODIES


def test_an_upload_declares_its_file_as_binary(schema):
    for path in UPLOADS:
        body = _resolve(schema, schema["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"])
        assert body["properties"]["file"] == {"type": "string", "format": "binary"}, path
        assert "file" in body["required"]
    files = [
        (name, key, prop)
        for name, component in schema["components"]["schemas"].items()
        if name.endswith("Request")
        for key, prop in component.get("properties", {}).items()
        if key == "file"
    ]
    assert files and all(prop["format"] == "binary" for _name, _key, prop in files), files


def test_operation_ids_and_component_names_are_plain_english_identifiers(schema):
    ids = [operation["operationId"] for _path, _method, operation in _operations(schema)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", operation_id), operation_id
    for name in schema["components"]["schemas"]:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), name
    assert "insurance_claims_list" in ids and "insurance_reconciliations_discrepancies_csv" in ids


def test_the_schema_bytes_do_not_depend_on_the_request_language(db):
    api = APIClient()
    api.force_authenticate(get_user_model().objects.create(username="polyglot", is_staff=True))
    zh = api.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    en = api.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT_LANGUAGE="en")
    assert zh.content == en.content
    assert not re.search(r"[\u4e00-\u9fff]", "".join(re.findall(r'"(?:operationId|title|\$ref)": "[^"]*"', zh.content.decode())))


def _list_views(patterns=None, prefix=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _list_views(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern) and hasattr(entry.callback, "cls"):
            view = entry.callback.cls
            if issubclass(view, ListAPIView) and view.pagination_class is not None:
                yield "/" + prefix + str(entry.pattern), view


def test_paginated_lists_are_documented_as_the_pages_they_return(schema):
    checked = 0
    for route, _view in _list_views():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route).replace("{pk}", "{id}")
        operation = schema["paths"][path]["get"]
        page = _resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
        assert {"count", "next", "previous", "results"} <= set(page["properties"]), path
        assert page["properties"]["results"]["type"] == "array", path
        names = {p["name"] for p in operation.get("parameters", [])}
        assert {"limit", "offset"} <= names, path
        limit = next(p for p in operation["parameters"] if p["name"] == "limit")
        assert limit["schema"].get("maximum") == 500 and limit["schema"].get("minimum") == 1, path
        checked += 1
    assert checked >= 10


def test_the_csv_export_documents_its_filters_and_errors(schema):
    operation = schema["paths"]["/api/v1/insurance/reconciliations/{id}/discrepancies.csv"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters["kind"]["schema"]["enum"]) == {
        "matched",
        "amount_mismatch",
        "missing_at_insurer",
        "unknown_claim",
        "duplicate_payment",
        "rejected",
    }
    assert {"open", "explained", "resolved"} <= set(parameters["status"]["schema"]["enum"])
    assert list(operation["responses"]["200"]["content"]) == ["text/csv"]
    assert list(operation["responses"]["400"]["content"]) == [MEDIA_TYPE]


def test_a_json_endpoint_refuses_a_form_body_with_a_problem(db):
    api = APIClient()
    api.force_authenticate(get_user_model().objects.create(username="form-poster", is_staff=True))
    response = api.post(
        "/api/v1/insurance/periods/close/",
        {"institution": "X", "period": "2026-01"},
        format="multipart",
        HTTP_IDEMPOTENCY_KEY="form-1",
    )
    assert response.status_code == 415
    assert response["Content-Type"].startswith(MEDIA_TYPE)
    assert response.json()["code"] == "unsupported_media_type"


def test_the_patient_list_is_documented_as_its_page(schema):
    operation = schema["paths"]["/api/v1/patients/"]["get"]
    page = _resolve(schema, operation["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    assert {"limit", "offset"} <= {p["name"] for p in operation["parameters"]}


def test_every_write_documents_a_404_for_an_object_its_body_names(schema):
    for path, method, operation in _operations(schema):
        if method == "post":
            assert "404" in operation["responses"], path


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/v1/insurance/funds/abc/", 404, "not_found"),
        ("get", "/api/v1/insurance/reconciliations/1x/discrepancies/", 404, "not_found"),
        ("get", "/api/v1/no-such-endpoint/", 404, "not_found"),
        ("post", "/api/v1/insurance/settlement-files/abc/", 404, "not_found"),
    ],
)
def test_a_refusal_outside_drf_is_a_problem_too(db, method, path, status, code):
    api = APIClient()
    api.force_authenticate(get_user_model().objects.create(username="lost", is_staff=True))
    response = getattr(api, method)(path, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == status
    assert response["Content-Type"] == MEDIA_TYPE
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["errors"] == [] and body["title"] == "Not found."


def test_pages_outside_the_api_keep_their_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_the_adjudication_outcome_has_an_enum_name_of_its_own(schema):
    """A generic name (``OutcomeEnum``) would be taken by the next serializer with an ``outcome`` field."""
    components = schema["components"]["schemas"]
    assert not {"OutcomeEnum", "StatusEnum", "KindEnum", "TypeEnum"} & set(components)
    assert components["AdjudicationOutcomeEnum"]["enum"] == ["approved", "partly_approved", "rejected"]
