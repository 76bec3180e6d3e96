"""Audit action names: one enumeration per app, each a subclass of :class:`AuditAction`.

An audit row's ``action`` is ``"<app>.<what happened>"``; a free string is refused by
:func:`consortium.services.record_audit_event`, so every action the platform can write is listed
in some app's ``audit.py`` (reviewers and the access reports can read them all there).
"""

from enum import StrEnum


class AuditAction(StrEnum):
    """The base of every app's audit enumeration; it has no members of its own."""


def all_audit_actions() -> list[AuditAction]:
    """Every member of every app's enumeration (the subclasses imported so far)."""
    return [member for subclass in AuditAction.__subclasses__() for member in subclass]


class ConsortiumAudit(AuditAction):
    """The kernel's own actions: machine credentials and the approvals of changes to them, secondments."""

    API_TOKEN_ISSUED = "consortium.api_token_issued"
    API_TOKEN_ROTATED = "consortium.api_token_rotated"
    API_TOKEN_REVOKED = "consortium.api_token_revoked"
    MACHINE_ACCESS_REQUESTED = "consortium.machine_access_requested"
    MACHINE_ACCESS_APPROVED = "consortium.machine_access_approved"
    MACHINE_ACCESS_REJECTED = "consortium.machine_access_rejected"
    MACHINE_ACCESS_WITHDRAWN = "consortium.machine_access_withdrawn"
    MACHINE_ACCESS_SECRET_COLLECTED = "consortium.machine_access_secret_collected"
    SECONDMENT_RECORDED = "consortium.secondment_recorded"
    SECONDMENT_ENDED = "consortium.secondment_ended"
