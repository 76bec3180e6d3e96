from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .permissions import Action, can_anywhere, staff_of

#: The main navigation: (URL name, label, the action a user needs somewhere to see the link).
NAVIGATION = [
    ("institution-list", _("Institutions"), Action.VIEW_INSTITUTION),
    ("membership-list", _("Memberships"), Action.VIEW_MEMBERSHIPS),
    ("sync-monitor", _("Sync monitor"), Action.VIEW_SYNC_MONITOR),
    ("insurance:claim-list", _("Claims"), Action.VIEW_CLAIMS),
    ("insurance:reconciliation-list", _("Reconciliation"), Action.REVIEW_RECONCILIATION),
    ("records:patient-search", _("Patients"), Action.VIEW_PATIENT),
    ("records:index-queue", _("Patient index"), Action.MANAGE_PATIENT_INDEX),
    ("referrals:queue", _("Referral queue"), Action.TRIAGE_REFERRAL),
    ("referrals:list", _("Referrals"), Action.VIEW_REFERRALS),
    ("referrals:follow-ups", _("Follow-ups"), Action.RECORD_FOLLOW_UP),
    ("referrals:notifications", _("Notifications"), Action.VIEW_REFERRALS),
]


def navigation(request):
    """The navigation links the signed-in user may follow."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    links = [(reverse(name), label) for name, label, action in NAVIGATION if can_anywhere(user, action)]
    notifications_url = reverse("referrals:notifications")
    if any(href == notifications_url for href, _label in links):
        from referrals.selectors import unread_notification_count

        unread = unread_notification_count(user)
        links = [(href, f"{label} ({unread})" if href == notifications_url and unread else label) for href, label in links]
    return {"current_staff": staff_of(user), "nav_links": links}
