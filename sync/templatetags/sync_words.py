"""The sync monitor's errors in words; the raw technical text stays behind a toggle on the page."""

import re

from django import template
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def error_in_words(delivery) -> str:
    """What went wrong with the last try, for a person: from the HTTP status or the kind of failure."""
    code = getattr(delivery, "last_status_code", None)
    text = (getattr(delivery, "last_error", "") or "").lower()
    if code:
        if code in (401, 403):
            return _("The receiving system refused our signature or credentials (%(code)s).") % {"code": code}
        if code == 404:
            return _("The receiving address was not found (404): check the endpoint's URL.")
        if code == 413:
            return _("The receiving system found the message too large (413).")
        if code in (408, 429):
            return _("The receiving system asked us to slow down or timed out (%(code)s); it will be tried again.") % {
                "code": code
            }
        if 400 <= code < 500:
            return _("The receiving system rejected the message (%(code)s).") % {"code": code}
        if code >= 500:
            return _("The receiving system had an internal error (%(code)s); it will be tried again.") % {"code": code}
        if 300 <= code < 400:
            return _("The receiving address redirects elsewhere (%(code)s): update the endpoint's URL.") % {"code": code}
    if "timed out" in text or "timeout" in text:
        return _("The receiving system did not answer in time.")
    if "refused" in text:
        return _("The receiving system is not accepting connections (it may be down).")
    if re.search(r"name or service not known|nodename|getaddrinfo|no address", text):
        return _("The receiving system's address could not be found (DNS).")
    if "ssl" in text or "certificate" in text:
        return _("A secure connection could not be set up (certificate problem).")
    if text:
        return _("The message could not be delivered.")
    return ""
