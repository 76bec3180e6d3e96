"""Session policy and the second factor, enforced on every signed-in web request.

* Idle timeout: a session unused for ``SESSION_IDLE_TIMEOUT`` seconds (30 minutes by default) is
  signed out; the last-seen time is refreshed at most once a minute, so a busy page does not write
  the session on every request.
* Absolute lifetime: ``SESSION_ABSOLUTE_LIFETIME`` seconds after sign-in (12 hours by default) the
  session ends however active it is; the cookie's own age is the same.
* Second factor: with ``OTP_REQUIRED`` on (the default in production), administrators, insurance
  officers and superusers must confirm a TOTP code (django-otp) before any page but the sign-in,
  sign-out, password reset and second-factor pages; an API call with a session answers 403 until
  then.  API clients with tokens are not sessions and are not affected.

Sign-in rotates the session key (Django's ``login``), and so does confirming the second factor.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from .auth_events import SIGNED_IN_AT
from .models import StaffRole

LAST_SEEN = "consortium_last_seen"
REFRESH_EVERY = 60  # seconds between writes of the last-seen time

#: Roles that must confirm a second factor when ``OTP_REQUIRED`` is on.
SECOND_FACTOR_ROLES = frozenset(
    {StaffRole.HOSPITAL_ADMINISTRATOR, StaffRole.CONSORTIUM_ADMINISTRATOR, StaffRole.INSURANCE_OFFICER, StaffRole.PRIVACY_OFFICER}
)


def needs_second_factor(user) -> bool:
    if not getattr(settings, "OTP_REQUIRED", False) or not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    staff = getattr(user, "staff", None)
    return staff is not None and staff.role in SECOND_FACTOR_ROLES


class SessionPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = timezone.now().timestamp()
            session = request.session
            signed_in = session.setdefault(SIGNED_IN_AT, now)
            last_seen = session.get(LAST_SEEN, now)
            if now - last_seen > settings.SESSION_IDLE_TIMEOUT:
                self._end(request, "idle", _("You were signed out after a period without activity. Please sign in again."))
            elif now - signed_in > settings.SESSION_ABSOLUTE_LIFETIME:
                self._end(request, "expired", _("Your session has reached its maximum length. Please sign in again."))
            elif now - last_seen >= REFRESH_EVERY or LAST_SEEN not in session:
                session[LAST_SEEN] = now
        return self.get_response(request)

    @staticmethod
    def _end(request, reason: str, message: str) -> None:
        request.logout_reason = reason
        logout(request)
        messages.info(request, message)


def _exempt_paths() -> tuple[str, ...]:
    return (
        reverse("login"),
        reverse("logout"),
        reverse("two-factor"),
        "/account/password-reset/",
        "/i18n/",
        "/" + settings.STATIC_URL.lstrip("/"),
        reverse("healthz"),
    )


class SecondFactorMiddleware:
    """After django-otp's middleware: a user who needs a second factor and has not confirmed one is sent to it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and needs_second_factor(user) and not user.is_verified():
            if not request.path.startswith(_exempt_paths()):
                if request.path.startswith("/api/"):
                    return JsonResponse(
                        {
                            "type": "about:blank",
                            "title": _("Second factor required"),
                            "status": 403,
                            "code": "second_factor_required",
                            "detail": _("Confirm your one-time code on the sign-in page first."),
                        },
                        status=403,
                        content_type="application/problem+json",
                    )
                return redirect(f"{reverse('two-factor')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
