"""The one adapter from a service's refusal to a web form: each message lands on its field."""

from django.core.exceptions import ValidationError

from .errors import ApplicationError, messages_by_field


def service_error_messages(error: ValidationError | ApplicationError) -> dict[str | None, list[str]]:
    """The messages of a refusal by field; ``None`` for those that name no field."""
    if isinstance(error, ApplicationError):
        return messages_by_field(error)
    if hasattr(error, "error_dict"):
        return {field: list(messages) for field, messages in error.message_dict.items()}
    return {None: list(error.messages)}


def apply_service_error(
    form, error: ValidationError | ApplicationError, *, sections: dict | None = None, renames: dict | None = None
) -> None:
    """Show a service's refusal on ``form``: on the named field, else in ``sections``, else on the form.

    ``renames`` maps a service's argument name to the form's field name (``department_id`` → ``department``);
    ``sections`` collects messages about parts of the page that are not fields (a formset, say).
    """
    for field, messages in service_error_messages(error).items():
        field = (renames or {}).get(field, field)
        if field in form.fields:
            target = field
        elif sections is not None and field in sections:
            sections[field].extend(messages)
            continue
        else:
            target = None
        for message in messages:
            form.add_error(target, message)
