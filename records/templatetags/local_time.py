"""Dates and times shown in the consortium's zone (Asia/Shanghai), whatever shape they arrive in.

Snapshots and JSON payloads keep instants as ISO 8601 strings; cutting such a string at ten
characters gives the date *in the offset it was written with* (UTC for older snapshots), which is
the previous day for a visit before 08:00 Beijing time. These filters parse the instant and show it
in the current time zone.
"""

import datetime

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

register = template.Library()


def as_local(value) -> datetime.datetime | datetime.date | None:
    """A datetime (aware, in the current zone), a date, or None, from a datetime, date or ISO string."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            return parse_date(value)
        value = parsed
    if isinstance(value, datetime.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, datetime.UTC)
        return timezone.localtime(value)
    return value


@register.filter
def local_date(value) -> str:
    moment = as_local(value)
    if moment is None:
        return ""
    return (moment.date() if isinstance(moment, datetime.datetime) else moment).isoformat()


@register.filter
def local_datetime(value) -> str:
    moment = as_local(value)
    if moment is None:
        return ""
    if isinstance(moment, datetime.datetime):
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.isoformat()
