"""Sign-in backend: Django's model backend, reading with the user what every signed-in page shows."""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import OuterRef

from referrals.selectors import UNREAD_ON_USER, unread_notifications_of

#: The staff record and what permissions and navigation read from it on every signed-in request
#: (an insurance office or a consortium is read when a role needs it), and the version of the
#: institution's referral queue, which keys the queue's cached totals (``referrals.selectors.queue_rows``).
STAFF_RELATIONS = ("staff__institution__referral_queue_version",)


class StaffModelBackend(ModelBackend):
    """Loads the signed-in user with their staff record and unread notification count in one query.

    Permissions read the staff record and the navigation shows the unread count on every page;
    read apart, they were two more database round trips per request.
    """

    def get_user(self, user_id):
        user_model = get_user_model()
        try:
            user = _signed_in_users().get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None


@functools.cache
def _signed_in_users():
    """The users with what is read alongside; built once, since resolving the expressions costs as much as the query."""
    return (
        get_user_model()
        ._default_manager.select_related(*STAFF_RELATIONS)
        .annotate(**{UNREAD_ON_USER: unread_notifications_of(OuterRef("pk"))})
    )
