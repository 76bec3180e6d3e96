"""Sign-in, sign-out, failed sign-in and lockout, each written to the audit log with address and user agent.

Connected in :class:`consortium.apps.ConsortiumConfig.ready` to Django's auth signals and to
django-axes' ``user_locked_out``.  A failed attempt records the username as typed (it names a staff
account, never a patient) so that an attack on one account is visible; the password never.
"""

from django.contrib.auth import get_user_model
from django.utils import timezone

from .audit import AuditAction
from .models import AuditEvent
from .request_info import request_detail


class AuthAudit(AuditAction):
    LOGIN = "consortium.login"
    LOGOUT = "consortium.logout"
    LOGIN_FAILED = "consortium.login_failed"
    LOCKED_OUT = "consortium.locked_out"
    PASSWORD_CHANGED = "consortium.password_changed"
    PASSWORD_RESET_REQUESTED = "consortium.password_reset_requested"
    PASSWORD_RESET = "consortium.password_reset"
    TOTP_ENROLLED = "consortium.totp_enrolled"
    SECOND_FACTOR = "consortium.second_factor"
    SECOND_FACTOR_FAILED = "consortium.second_factor_failed"


#: Session key: when this session signed in (the absolute lifetime counts from it).
SIGNED_IN_AT = "consortium_signed_in_at"
USERNAME_LENGTH = 150


def _staff_institution_id(user):
    staff = getattr(user, "staff", None) if user is not None and user.pk else None
    return getattr(staff, "institution_id", None)


def record_auth_event(action: AuthAudit, request, *, user=None, username: str = "", detail: dict | None = None) -> AuditEvent:
    if not isinstance(action, AuthAudit):
        raise TypeError(f"record_auth_event takes an AuthAudit member, not {action!r}")
    model = get_user_model()
    return AuditEvent.objects.create(
        action=action,
        object_type=model._meta.label_lower,
        object_id=str(user.pk) if user is not None and user.pk else "",
        actor=user if user is not None and user.pk else None,
        institution_id=_staff_institution_id(user),
        detail={**request_detail(request), **({"username": username[:USERNAME_LENGTH]} if username else {}), **(detail or {})},
    )


def on_logged_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = timezone.now().timestamp()
    record_auth_event(AuthAudit.LOGIN, request, user=user)


def on_logged_out(sender, request, user, **kwargs):
    if user is not None:
        record_auth_event(AuthAudit.LOGOUT, request, user=user, detail={"reason": getattr(request, "logout_reason", "user")})


def on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username") or "")
    user = get_user_model()._default_manager.filter(username=username).first() if username else None
    record_auth_event(AuthAudit.LOGIN_FAILED, request, username=username, detail={"account_exists": user is not None})


def on_locked_out(sender, request, username=None, ip_address=None, **kwargs):
    record_auth_event(AuthAudit.LOCKED_OUT, request, username=str(username or ""))


def connect() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    user_logged_in.connect(on_logged_in, dispatch_uid="consortium-audit-login")
    user_logged_out.connect(on_logged_out, dispatch_uid="consortium-audit-logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="consortium-audit-login-failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="consortium-audit-locked-out")
