"""The centre's worklist rendered in Python: per-row template lookups (URL reversals, display labels,
dates) were most of the page's time (see bench/README.md, diagnostics)."""

import functools
import html

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from ..models import OPEN_STATUSES, OrderStatus, Urgency

register = template.Library()


def _escape(value) -> str:
    return html.escape(str(value), quote=True)


@functools.lru_cache(maxsize=8)
def _labels(language: str | None) -> tuple[dict, dict, str, str, str]:
    """Escaped urgency and status labels, the overdue badge, the table head and the empty row, in one language."""
    urgency = {value: _escape(label) for value, label in Urgency.choices}
    status = {value: _escape(label) for value, label in OrderStatus.choices}
    overdue = f' <span class="badge bad">{_escape(_("overdue"))}</span>'
    columns = (_("Accession"), _("Urgency"), _("Due"), _("Service"), pgettext("diagnostics", "From"), _("Status"), _("Reader"))
    head = "".join(f"<th>{_escape(label)}</th>" for label in columns)
    empty = f'<tr><td colspan="7" class="empty">{_escape(_("Nothing is waiting to be read."))}</td></tr>'
    return urgency, status, overdue, head, empty


@functools.lru_cache(maxsize=8)
def _detail_url_pattern(script_prefix: str) -> str:
    return reverse("diagnostics:order-detail", args=[0]).replace("/0/", "/{}/")


@register.simple_tag
def worklist_table(rows):
    """The worklist table of ``selectors.worklist_page`` rows: accession (a link), urgency, due, service, from, status, reader."""
    urgency, status, overdue, head, empty = _labels(translation.get_language())
    detail = _detail_url_pattern(get_script_prefix())
    now = timezone.now()
    zone = timezone.get_current_timezone()

    def row(r: dict) -> str:
        due = r["due_at"]
        late = overdue if r["status"] in OPEN_STATUSES and due is not None and due < now else ""
        return (
            f'<tr><td><a href="{detail.format(int(r["id"]))}">{_escape(r["accession"])}</a></td>'
            f'<td><span class="badge {_escape(r["urgency"])}">{urgency.get(r["urgency"]) or _escape(r["urgency"])}</span></td>'
            f"<td>{due.astimezone(zone).strftime('%m-%d %H:%M') if due else ''}{late}</td>"
            f"<td>{_escape(r['service__name'])}</td><td>{_escape(r['ordering_institution__name'])}</td>"
            f"<td>{status.get(r['status']) or _escape(r['status'])}</td>"
            f"<td>{_escape(r['claimed_by__staff__display_name'] or '')}</td></tr>"
        )

    body = "\n".join(row(r) for r in rows) or empty
    # Every value is escaped in row() and _labels().
    return mark_safe(f'<table id="worklist"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>')  # noqa: S308


@register.simple_tag
def choice_options(choices, current):
    """``<option>`` elements of ``(value, label)`` choices, the one equal to ``current`` (a string) selected."""
    current = "" if current is None else str(current)
    return mark_safe(  # noqa: S308 - values and labels are escaped
        "".join(
            f'<option value="{_escape(value)}"{" selected" if str(value) == current else ""}>{_escape(label)}</option>'
            for value, label in choices
        )
    )
