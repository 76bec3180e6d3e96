"""The one exception hierarchy services raise; the API and the web pages translate it, nothing else.

Services never name an HTTP status: the API's exception handler maps each class to one (and writes
the problem-details body with the stable ``code``), the web views put ``message`` on ``field``.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied


class ApplicationError(Exception):
    """A rule of the platform refused the request.

    ``code`` is stable and machine-readable (never translated); ``message`` is for people, already
    translated; ``field`` names the input at fault, if one is; ``errors`` carries several, per field
    or per row, as ``{field_or_row: [message, ...]}`` or as a list of
    ``{"row": n, "field": name, "message": text, "code": code}`` (row and code optional);
    ``extra`` holds further facts a client can act on (the claims still open, the file already
    stored), written as extension members of the problem body.
    """

    code = "invalid"

    def __init__(
        self,
        message: str = "",
        *,
        field: str | None = None,
        code: str | None = None,
        errors: dict | list | None = None,
        extra: dict | None = None,
    ):
        super().__init__(str(message))
        self.message = str(message)
        self.field = field
        if code is not None:
            self.code = code
        self.errors = errors or ({field: [self.message]} if field and message else {})
        self.extra = extra or {}


class Invalid(ApplicationError):
    """The input breaks a rule (a value out of range, a missing field, an inconsistent pair)."""

    code = "invalid"


class Unprocessable(Invalid):
    """The request is well-formed but its content breaks rules item by item (rows of a file, results of a batch)."""

    code = "unprocessable"


class TooLarge(Invalid):
    """The request body (an upload, a batch) is larger than the platform accepts."""

    code = "too_large"


class NotFound(ApplicationError):
    """What was asked for does not exist, or the actor may not know that it does."""

    code = "not_found"


class NotPermitted(ApplicationError, DjangoPermissionDenied):
    """The actor has no right to this action here (still a Django PermissionDenied for old callers)."""

    code = "permission_denied"


class Conflict(ApplicationError):
    """The request is well-formed but clashes with the current state (a duplicate, a closed period)."""

    code = "conflict"


class IllegalTransition(Conflict):
    """The object's state machine has no such move from its current status."""

    code = "illegal_transition"


def messages_by_field(error: ApplicationError) -> dict[str | None, list[str]]:
    """The error's messages by input (``None``: not about one field), for a web form to show them."""
    found: dict[str | None, list[str]] = {}
    if isinstance(error.errors, dict):
        for key, messages in error.errors.items():
            found.setdefault(key if isinstance(key, str) else None, []).extend(
                str(m) for m in (messages if isinstance(messages, list | tuple) else [messages])
            )
    else:
        for entry in error.errors:
            found.setdefault(entry.get("field"), []).append(str(entry.get("message", "")))
    if not found:
        found[error.field] = [error.message]
    return found
