"""The OpenAPI schema documents every operation's error responses (the problem-details contract).

``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]`` names :class:`AutoSchema`. To each operation it adds the
problems that operation can answer, all as ``application/problem+json`` with the ``Problem``
component (see ``consortium.problems``), unless the view already documents that status:

* 400 when the operation reads a body or query parameters (validation, limit/offset out of range);
* 401 and 403 when it needs authentication;
* 404 when its path names an object, or it writes (a body may name an object that is not there);
* 409 and 422 for writes (a clash with the current state; content refused item by item, or an
  Idempotency-Key reused with another body).
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

from .problems import MEDIA_TYPE, ProblemSerializer

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

DESCRIPTIONS = {
    "400": "The request is invalid: see errors for each field (code invalid, required, ...).",
    "401": "No or an unknown/revoked token (codes not_authenticated, authentication_failed).",
    "403": "The caller may not do this (code permission_denied).",
    "404": "No such object, or not one the caller may see (code not_found).",
    "409": "The request clashes with the current state (codes conflict, illegal_transition, ...).",
    "422": "The content was refused item by item or row by row (see errors); nothing was written.",
}


class AutoSchema(SpectacularAutoSchema):
    def _error_statuses(self) -> list[str]:
        statuses = []
        reads_input = self.method in WRITE_METHODS or self._is_list_view() or bool(self._get_filter_parameters())
        if reads_input or self.get_override_parameters():
            statuses.append("400")
        if not any(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            statuses += ["401", "403"]
        if "{" in self.path or self.method in WRITE_METHODS:
            statuses.append("404")
        if self.method in WRITE_METHODS:
            statuses += ["409", "422"]
        return statuses

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status, response in responses.items():
            # An error a view documents itself is still a problem-details body.
            if str(status)[0] in "45" and "application/json" in response.get("content", {}):
                response["content"] = {MEDIA_TYPE: response["content"].pop("application/json"), **response["content"]}
        for status in self._error_statuses():
            if status not in responses:
                responses[status] = self._get_response_for_code(
                    OpenApiResponse(ProblemSerializer, description=DESCRIPTIONS[status]), status, [MEDIA_TYPE], direction
                )
        return responses
