"""The coordinator's queue rendered in Python: the queue page is the busiest page of the product, and
per-row and per-option template lookups (URL reversals, display labels, dates, selected options)
made up most of its time."""

import functools
import html

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from ..models import AWAITING_DECISION, ReferralStatus, Urgency

register = template.Library()


def _escape(value) -> str:
    """Plain HTML escaping of a string (Django's ``escape`` without its lazy-string wrapper, which
    cost a few milliseconds on a 50-row page)."""
    return html.escape(str(value), quote=True)


@functools.lru_cache(maxsize=8)
def _labels(language: str | None) -> tuple[dict, dict, str, str]:
    """Escaped urgency and status labels, the overdue badge and the table head, in one language."""
    urgency = {value: _escape(label) for value, label in Urgency.choices}
    status = {value: _escape(label) for value, label in ReferralStatus.choices}
    overdue = f' <span class="badge bad">{_escape(_("overdue"))}</span>'
    columns = {
        counterpart: ("#", _("Due"), _("Patient"), label, _("Department"), _("Urgency"), _("Status"), _("Appointment"))
        for counterpart, label in (("from", _("From")), ("to", _("To")))
    }
    heads = {counterpart: "".join(f"<th>{_escape(label)}</th>" for label in labels) for counterpart, labels in columns.items()}
    return urgency, status, overdue, heads


@functools.lru_cache(maxsize=8)
def _detail_url_pattern(script_prefix: str) -> str:
    return reverse("referrals:detail", args=[0]).replace("/0/", "/{}/")


@register.simple_tag
def referral_table(referrals, counterpart: str = "from"):
    """A table of referral rows (``selectors.table_rows``), head and body.

    ``counterpart`` is "from" (a received referral shows its sender) or "to" (a sent one, its receiver).
    """
    urgency, status, overdue, heads = _labels(translation.get_language())
    now = timezone.now()
    zone = timezone.get_current_timezone()
    detail = _detail_url_pattern(get_script_prefix())
    counterpart_name = f"{counterpart}_institution__name"

    def when(value) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "—"

    def row(r: dict) -> str:
        href = detail.format(int(r["id"]))
        late = overdue if r["status"] in AWAITING_DECISION and r["due_at"] and r["due_at"] < now else ""
        return (
            f'<tr><td><a href="{href}">#{int(r["id"])}</a></td><td>{when(r["due_at"])}{late}</td>'
            f'<td><a href="{href}">{_escape(r["patient__name"])}</a></td><td>{_escape(r[counterpart_name])}</td>'
            f"<td>{_escape(r['to_department__name'] or '—')}</td>"
            f'<td><span class="badge {_escape(r["urgency"])}">{urgency.get(r["urgency"]) or _escape(r["urgency"])}</span></td>'
            f"<td>{status.get(r['status']) or _escape(r['status'])}</td><td>{when(r['appointment_at'])}</td></tr>"
        )

    body = "\n".join(row(r) for r in referrals)
    if not body:
        body = f'<tr><td colspan="8" class="empty">{_escape(_("No referrals."))}</td></tr>'
    # Every value is escaped in row() and _labels().
    return mark_safe(  # noqa: S308
        f'<table class="referral-table">\n  <thead><tr>{heads[counterpart]}</tr></thead>\n  <tbody>\n{body}\n  </tbody>\n</table>'
    )


@register.simple_tag
def filter_selects(form):
    """The form's choice fields as labelled plain ``<select>`` elements, the current value selected."""

    def select(field) -> str:
        value = field.value()
        current = "" if value is None else str(value)
        options = "".join(
            f'<option value="{_escape(value)}"{" selected" if str(value) == current else ""}>{_escape(label)}</option>'
            for value, label in field.field.choices
        )
        return (
            f'<label>{_escape(field.label)} <select name="{_escape(field.html_name)}" id="{_escape(field.auto_id)}">'
            f"{options}</select></label>"
        )

    return mark_safe("\n".join(select(field) for field in form))  # noqa: S308 - every value is escaped in select()
