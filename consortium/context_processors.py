from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .permissions import Action, can_anywhere, staff_of

#: The main navigation: (URL name, label, the action a user needs somewhere to see the link).
NAVIGATION = [
    ("institution-list", _("Institutions"), Action.VIEW_INSTITUTION),
    ("membership-list", _("Memberships"), Action.VIEW_MEMBERSHIPS),
]


def navigation(request):
    """The navigation links the signed-in user may follow."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "current_staff": staff_of(user),
        "nav_links": [(reverse(name), label) for name, label, action in NAVIGATION if can_anywhere(user, action)],
    }
