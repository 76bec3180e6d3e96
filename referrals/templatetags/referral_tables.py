"""Referral tables rendered in Python: the queue shows 50 rows on every request, and per-row template
lookups (two URL reversals, two display labels, dates) made up most of the page's time."""

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from ..models import AWAITING_DECISION, ReferralStatus, Urgency

register = template.Library()


def _when(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "—"


@register.simple_tag
def referral_rows(referrals, counterpart: str = "from"):
    """The ``<tr>`` rows of a table of referral rows (``selectors.ROW_VALUES`` dicts).

    ``counterpart`` is "from" (a received referral shows its sender) or "to" (a sent one, its receiver).
    """
    urgency = {value: str(label) for value, label in Urgency.choices}
    status = {value: str(label) for value, label in ReferralStatus.choices}
    overdue = format_html(' <span class="badge bad">{}</span>', _("overdue"))
    now = timezone.now()
    detail = reverse("referrals:detail", args=[0]).replace("/0/", "/{}/")

    def row(r: dict):
        href = detail.format(r["id"])
        late = overdue if r["status"] in AWAITING_DECISION and r["due_at"] and r["due_at"] < now else ""
        return (
            href,
            r["id"],
            _when(r["due_at"]),
            late,
            href,
            r["patient__name"],
            r["from_institution__name"] if counterpart == "from" else r["to_institution__name"],
            r["to_department__name"] or "—",
            r["urgency"],
            urgency.get(r["urgency"], r["urgency"]),
            status.get(r["status"], r["status"]),
            _when(r["appointment_at"]),
        )

    rows = format_html_join(
        "\n",
        '<tr><td><a href="{}">#{}</a></td><td>{}{}</td><td><a href="{}">{}</a></td><td>{}</td><td>{}</td>'
        '<td><span class="badge {}">{}</span></td><td>{}</td><td>{}</td></tr>',
        (row(r) for r in referrals),
    )
    if not rows:
        return format_html('<tr><td colspan="8" class="empty">{}</td></tr>', _("No referrals."))
    return rows
