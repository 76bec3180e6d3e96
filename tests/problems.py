"""Reading the API's problem-details answers (RFC 9457) in tests."""

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code", "errors"}


def problem(response, status: int, code: str | None = None) -> dict:
    """The body of a problem answer, after checking its status, media type, outline and code."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert PROBLEM_MEMBERS <= set(body), body
    assert body["status"] == status and body["type"].endswith("/" + body["code"]), body
    if code is not None:
        assert body["code"] == code, body
    return body


def fields(response, status: int = 400, code: str | None = None) -> set:
    """The inputs a problem answer names (``None`` for errors about no one field)."""
    return {error["field"] for error in problem(response, status, code)["errors"]}


def rows(response, status: int = 422, code: str | None = None) -> set:
    """(row, field) pairs a problem answer names."""
    return {(error["row"], error["field"]) for error in problem(response, status, code)["errors"]}
