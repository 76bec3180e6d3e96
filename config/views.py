"""Pages that gather several apps: the home page per role, and the health check."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from consortium import selectors
from consortium.models import StaffRole
from consortium.permissions import staff_of
from records.list_access import audited_list, listed
from records.models import PurposeOfUse
from records.selectors import break_glass_oversight, encounters_on, recently_registered_patients
from referrals.selectors import (
    expected_arrivals,
    follow_ups_due,
    incoming_referrals,
    overdue_decisions,
    referral_queue,
    referrals_sent_by,
)

from .health import health_report


def _home_context(user) -> dict:
    staff = staff_of(user)
    if staff is None:
        return {"panel": "none"}
    role = staff.role
    if role in (StaffRole.CLINIC_CLINICIAN, StaffRole.CLINIC_CLERK):
        follow_ups = follow_ups_due(staff.institution)
        listed([*follow_ups["overdue"], *follow_ups["today"]], "referral.patient_id")
        return {
            "panel": "clinic",
            "incoming": listed(incoming_referrals(staff.institution)),
            "follow_ups": follow_ups,
            "todays_encounters": listed(encounters_on(staff.institution)),
            "recent_patients": listed(recently_registered_patients(staff.institution), "pk"),
            "referrals_sent": listed(referrals_sent_by(staff.institution)[:10]),
        }
    if role in (StaffRole.REFERRAL_COORDINATOR, StaffRole.HOSPITAL_ADMINISTRATOR):
        return {
            "panel": "hospital",
            "queue": listed(referral_queue(staff.institution)[:50]),
            "arrivals": listed(expected_arrivals(staff.institution)),
            "overdue": listed(overdue_decisions(staff.institution)[:50]),
            "todays_encounters": listed(encounters_on(staff.institution)),
        }
    if role == StaffRole.PRIVACY_OFFICER:
        grants = break_glass_oversight(user)
        return {
            "panel": "privacy",
            "awaiting_review": grants.filter(reviewed_at__isnull=True).count(),
            "overdue_review": grants.filter(reviewed_at__isnull=True, review_due_at__lt=timezone.now()).count(),
        }
    if role == StaffRole.CONSORTIUM_ADMINISTRATOR:
        return {
            "panel": "consortium",
            "consortia": selectors.consortia_administered_by(user),
            "memberships": selectors.memberships_visible_to(user),
        }
    return {"panel": "insurance", "institutions": selectors.institutions_visible_to(user)}


@login_required
@audited_list(PurposeOfUse.TREATMENT)
def home(request):
    """The home page per role; the panels that name patients (referrals, visits, follow-ups) are
    logged as one list read."""
    context = {"staff": staff_of(request.user), **_home_context(request.user)}
    return render(request, "consortium/home.html", context)


@never_cache
@require_GET
def healthz(request):
    healthy, report = health_report()
    if not request.user.is_authenticated:
        # Anonymous callers (a load balancer) learn whether workers answer, not the machines' names.
        worker = report.get("worker", {})
        if "workers" in worker:
            worker["workers"] = len(worker["workers"])
    return JsonResponse({"status": "ok" if healthy else "down", **report}, status=200 if healthy else 503)
