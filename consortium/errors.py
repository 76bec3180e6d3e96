"""The one exception hierarchy services raise; the API and the web pages translate it, nothing else.

Services never name an HTTP status: the API's exception handler maps each class to one (and writes
the problem-details body with the stable ``code``), the web views put ``message`` on ``field``.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied


class ApplicationError(Exception):
    """A rule of the platform refused the request.

    ``code`` is stable and machine-readable (never translated); ``message`` is for people, already
    translated; ``field`` names the input at fault, if one is; ``errors`` carries several, per field
    or per row, as ``{field_or_row: [message, ...]}``.
    """

    code = "invalid"

    def __init__(self, message: str = "", *, field: str | None = None, code: str | None = None, errors: dict | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.field = field
        if code is not None:
            self.code = code
        self.errors = errors or ({field: [self.message]} if field and message else {})


class Invalid(ApplicationError):
    """The input breaks a rule (a value out of range, a missing field, an inconsistent pair)."""

    code = "invalid"


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
