"""The API's one error contract: every refusal is an RFC 9457 problem-details body.

``REST_FRAMEWORK["EXCEPTION_HANDLER"]`` names :func:`exception_handler`; no API module catches an
error to shape its own body. What it translates, first match wins:

1. ``consortium.errors.ApplicationError`` and its subclasses (what services raise): the status comes
   from the class (:data:`STATUS_BY_CLASS`, most specific first), the ``code`` from the instance.
2. Django's ``ValidationError`` (model validation that reaches the API), ``PermissionDenied`` and
   ``Http404``.
3. DRF's own exceptions (serializer validation, authentication, throttling, parsing, negotiation).

The body is ``application/problem+json``::

    {"type": "https://consortium.invalid/problems/<code>", "title": ..., "status": 400,
     "detail": ..., "code": "<code>", "errors": [{"field": ..., "row": ..., "code": ..., "message": ...}]}

``title``, ``detail`` and each ``message`` are in the request's language (LocaleMiddleware has
activated it); ``type`` and every ``code`` are stable English identifiers a client can switch on.
``errors`` is always present (empty when the problem is not about particular inputs); ``field`` is a
dotted path into the request (``results.3.approved_amount``), ``row`` a record number of an uploaded
file. Anything else the error carries (``ApplicationError.extra``) becomes an extension member.
Unexpected exceptions are not caught here: they stay a 500 and reach the logs.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from . import errors

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://consortium.invalid/problems/"
STANDARD_MEMBERS = ("type", "title", "status", "detail", "code", "errors")

#: The HTTP status of each class; an error takes the status of the nearest class in its MRO, so
#: ``class SlotUnavailable(Conflict, ReferralError)`` is a 409 although ReferralError is Invalid.
STATUS_BY_CLASS: dict[type[errors.ApplicationError], int] = {
    errors.Unprocessable: 422,
    errors.TooLarge: 413,
    errors.Invalid: 400,
    errors.NotFound: 404,
    errors.NotPermitted: 403,
    errors.Conflict: 409,
    errors.ApplicationError: 400,
}

TITLES = {
    400: _("The request is invalid."),
    401: _("Authentication is required."),
    403: _("You are not allowed to do this."),
    404: _("Not found."),
    405: _("This method is not allowed here."),
    406: _("The requested representation is not available."),
    409: _("The request conflicts with the current state."),
    413: _("The request is too large."),
    415: _("This content type is not supported."),
    422: _("The content was refused."),
    429: _("Too many requests."),
    500: _("The server failed to answer; the error was logged."),
}


class ProblemRenderer(JSONRenderer):
    media_type = MEDIA_TYPE


class ProblemErrorSerializer(serializers.Serializer):
    """One input at fault: a field of the request, a row (record) of an uploaded file, or both."""

    field = serializers.CharField(allow_null=True, help_text="Dotted path of the input, e.g. results.3.approved_amount.")
    row = serializers.IntegerField(allow_null=True, help_text="Record number in an uploaded file (1 = first data record).")
    code = serializers.CharField(help_text="Stable machine-readable code; never translated.")
    message = serializers.CharField(help_text="For people, in the request's language.")


class ProblemSerializer(serializers.Serializer):
    """An RFC 9457 problem-details body (media type application/problem+json)."""

    type = serializers.CharField(help_text="A URI naming the kind of problem; ends with the code.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable code; never translated.")
    errors = ProblemErrorSerializer(many=True)


def status_of(error: errors.ApplicationError) -> int:
    return next(STATUS_BY_CLASS[cls] for cls in type(error).__mro__ if cls in STATUS_BY_CLASS)


def _item(field, row, code, message) -> dict:
    return {
        "field": None if field in (None, "", "__all__", "non_field_errors") else str(field),
        "row": row,
        "code": str(code or "invalid"),
        "message": str(message),
    }


def _application_errors(error: errors.ApplicationError) -> list[dict]:
    if isinstance(error.errors, dict):
        items = []
        for key, messages in error.errors.items():
            messages = messages if isinstance(messages, list | tuple) else [messages]
            row = key if isinstance(key, int) else None
            field = None if row is not None else key
            items.extend(_item(field, row, error.code, message) for message in messages)
        return items
    return [
        {
            **{key: value for key, value in entry.items() if key not in ("reason", "message")},
            **_item(
                entry.get("field"), entry.get("row"), entry.get("code", error.code), entry.get("message", entry.get("reason", ""))
            ),
        }
        for entry in error.errors
    ]


def _drf_errors(detail, path: tuple = ()) -> list[dict]:
    if isinstance(detail, dict):
        return [
            item
            for key, value in detail.items()
            for item in _drf_errors(value, path if key == api_settings.NON_FIELD_ERRORS_KEY else (*path, key))
        ]
    if isinstance(detail, list):
        if all(not isinstance(value, dict | list) for value in detail):
            return [_item(".".join(map(str, path)), None, getattr(value, "code", None), value) for value in detail]
        return [item for index, value in enumerate(detail) for item in _drf_errors(value, (*path, index))]
    return [_item(".".join(map(str, path)), None, getattr(detail, "code", None), detail)]


def _django_errors(error: DjangoValidationError) -> list[dict]:
    if hasattr(error, "error_dict"):
        return [
            _item(field, None, item.code, message)
            for field, items in error.error_dict.items()
            for item in items
            for message in item.messages
        ]
    return [_item(None, None, item.code, message) for item in error.error_list for message in item.messages]


def _detail(status: int, message: str, items: list[dict]) -> str:
    if message:
        return message
    if len(items) == 1:
        return items[0]["message"]
    return str(TITLES.get(status, TITLES[400]))


def problem(status: int, code: str, detail: str = "", items: list[dict] | None = None, extra: dict | None = None) -> dict:
    """The problem-details body; ``extra`` members never replace the standard ones."""
    items = items or []
    body = {
        "type": TYPE_BASE + code,
        "title": str(TITLES.get(status, TITLES[400])),
        "status": status,
        "detail": _detail(status, detail, items),
        "code": code,
        "errors": items,
    }
    for key, value in (extra or {}).items():
        if key not in STANDARD_MEMBERS:
            body[key] = value
    return body


def _translate(exc) -> tuple[int, dict, dict]:
    """(status, body, headers) for a known exception; raises LookupError for anything else."""
    if isinstance(exc, errors.ApplicationError):
        status = status_of(exc)
        return status, problem(status, exc.code, exc.message, _application_errors(exc), exc.extra), {}
    if isinstance(exc, DjangoValidationError):
        return 400, problem(400, "invalid", "", _django_errors(exc)), {}
    if isinstance(exc, Http404):
        return 404, problem(404, "not_found", str(TITLES[404])), {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, problem(403, "permission_denied", str(TITLES[403])), {}
    if isinstance(exc, exceptions.ValidationError):
        return 400, problem(400, "invalid", "", _drf_errors(exc.detail)), {}
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        detail = exc.detail
        if isinstance(detail, dict | list):
            return exc.status_code, problem(exc.status_code, exc.default_code, "", _drf_errors(detail)), headers
        return exc.status_code, problem(exc.status_code, getattr(detail, "code", None) or exc.default_code, str(detail)), headers
    raise LookupError


def exception_handler(exc, context) -> Response | None:
    """DRF's EXCEPTION_HANDLER: the problem-details response, or None (a 500) for an unexpected error."""
    try:
        status, body, headers = _translate(exc)
    except LookupError:
        return None
    set_rollback()
    request = context.get("request")
    if request is not None:
        # Problems are JSON whatever the client asked for (a CSV export, the browsable API).
        request.accepted_renderer = ProblemRenderer()
        request.accepted_media_type = MEDIA_TYPE
    return Response(body, status=status, headers=headers, content_type=MEDIA_TYPE)


API_PREFIX = "/api/v1/"
CODES_BY_STATUS = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    500: "server_error",
}


def _has_nul(request) -> bool:
    return "\x00" in request.path or any(
        "\x00" in key or "\x00" in value for key, values in request.GET.lists() for value in values
    )


class ApiProblemMiddleware:
    """Refusals the DRF handler never sees are problem details too under ``/api/v1/``.

    A path whose parameter does not match its converter (``/insurance/funds/abc/``) is a 404 of
    Django's URL resolver, a CSRF refusal is Django's 403 page, an unexpected exception Django's 500
    page: under the API prefix each becomes an ``application/problem+json`` body with the same
    status (nothing of the original page is passed on).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request):
            # PostgreSQL refuses a NUL in any text it is given: refuse it here, on both databases alike.
            if not request.path.startswith(API_PREFIX):
                from django.core.exceptions import BadRequest

                raise BadRequest("NUL character in the address")
            from django.http import JsonResponse

            body = problem(400, "invalid_characters", str(_("The address or a query parameter holds a NUL character.")))
            return JsonResponse(body, status=400, content_type=MEDIA_TYPE, json_dumps_params={"ensure_ascii": False})
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").split(";")[0].strip() in (MEDIA_TYPE, "application/json")
        ):
            return response
        from django.http import JsonResponse

        status = response.status_code
        code = CODES_BY_STATUS.get(status, "server_error" if status >= 500 else "invalid")
        replaced = JsonResponse(
            problem(status, code), status=status, content_type=MEDIA_TYPE, json_dumps_params={"ensure_ascii": False}
        )
        for header in ("Allow", "WWW-Authenticate", "Retry-After"):
            if header in response:
                replaced[header] = response[header]
        return replaced
