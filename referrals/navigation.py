"""The referral entries of the main navigation, with the unread notification count."""

from django.utils.translation import gettext_lazy as _

from consortium.navigation import nav_url
from consortium.permissions import Action

NAVIGATION = [
    ("referrals:queue", _("Referral queue"), Action.TRIAGE_REFERRAL),
    ("referrals:list", _("Referrals"), Action.VIEW_REFERRALS),
    ("referrals:follow-ups", _("Follow-ups"), Action.RECORD_FOLLOW_UP),
    ("referrals:notifications", _("Notifications"), Action.VIEW_REFERRALS),
    ("referrals:due-times", _("Referral due times"), Action.CONFIGURE_REFERRALS),
]


def with_unread_count(links: list[tuple[str, str]], user) -> list[tuple[str, str]]:
    """Add the number of unread notifications to the notifications link, if it is shown."""
    from .selectors import unread_notification_count

    url = nav_url("referrals:notifications")
    if not any(href == url for href, _label in links):
        return links
    unread = unread_notification_count(user)
    return [(href, f"{label} ({unread})" if href == url and unread else label) for href, label in links]
