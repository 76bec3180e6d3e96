from django.utils.translation import gettext_lazy as _

from chronic import navigation as chronic_navigation
from consortium.navigation import nav_url
from consortium.permissions import Action, can_anywhere, staff_of
from dashboard import navigation as dashboard_navigation
from diagnostics import navigation as diagnostics_navigation
from referrals import navigation as referral_navigation

#: The main navigation: (URL name, label, the action a user needs somewhere to see the link).
NAVIGATION = [
    ("institution-list", _("Institutions"), Action.VIEW_INSTITUTION),
    ("membership-list", _("Memberships"), Action.VIEW_MEMBERSHIPS),
    ("sync-monitor", _("Sync monitor"), Action.VIEW_SYNC_MONITOR),
    ("machine-access", _("Machine access"), Action.MANAGE_MACHINE_ACCESS),
    ("machine-access", _("Machine access"), Action.REQUEST_MACHINE_ACCESS),
    ("insurance:claim-list", _("Claims"), Action.VIEW_CLAIMS),
    ("insurance:reconciliation-list", _("Reconciliation"), Action.REVIEW_RECONCILIATION),
    ("insurance:fund-list", _("Consortium fund"), Action.VIEW_CLAIMS),
    ("records:patient-search", _("Patients"), Action.VIEW_PATIENT),
    ("records:index-queue", _("Patient index"), Action.MANAGE_PATIENT_INDEX),
    ("records:catalogues", _("Catalogues"), Action.CONFIGURE_CATALOGUES),
    ("records:break-glass-oversight", _("Break-glass oversight"), Action.OVERSEE_PRIVACY),
    *referral_navigation.NAVIGATION,
    *diagnostics_navigation.NAVIGATION,
    *chronic_navigation.NAVIGATION,
    *dashboard_navigation.NAVIGATION,
]


def navigation(request):
    """The navigation links the signed-in user may follow."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    links = []
    for name, label, action in NAVIGATION:
        url = nav_url(name)
        if can_anywhere(user, action) and all(url != seen for seen, _label in links):
            links.append((url, label))
    return {"current_staff": staff_of(user), "nav_links": referral_navigation.with_unread_count(links, user)}
