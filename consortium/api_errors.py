"""How the API reports a rule a service refused: a Django ``ValidationError`` as DRF's error body."""

from django.core.exceptions import ValidationError


def error_body(error: ValidationError) -> dict[str, list[str]]:
    """The messages by field, or under ``non_field_errors`` when the error names no field."""
    return error.message_dict if hasattr(error, "error_dict") else {"non_field_errors": error.messages}
