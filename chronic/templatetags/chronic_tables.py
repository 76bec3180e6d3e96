"""The week's follow-up worklist rendered in Python: a township team's page lists up to 300 rows, and
per-row template lookups (URL reversals, display labels, dates) were most of its time (bench/README.md, chronic)."""

import functools
import html

from django import template
from django.urls import get_script_prefix, reverse
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from ..models import Control, FollowUpStatus

register = template.Library()


def _escape(value) -> str:
    return html.escape(str(value), quote=True)


@functools.lru_cache(maxsize=8)
def _labels(language: str | None) -> tuple[dict, str]:
    """Escaped control labels and the "missed" mark, in one language."""
    return {value: _escape(label) for value, label in Control.choices}, _escape(_("missed"))


@functools.lru_cache(maxsize=8)
def _follow_up_url_pattern(script_prefix: str) -> str:
    return reverse("chronic:follow-up", args=[0]).replace("/0/", "/{}/")


@register.simple_tag
def follow_up_list(items, empty):
    """A worklist section of ``selectors.worklist`` rows: patient, programme and village, due date (or missed), last control."""
    control, missed = _labels(translation.get_language())
    href = _follow_up_url_pattern(get_script_prefix())

    def row(r: dict) -> str:
        village = f" · {_escape(r['enrolment__patient__village'])}" if r["enrolment__patient__village"] else ""
        last = r["enrolment__last_control"]
        when = missed if r["status"] == FollowUpStatus.MISSED else r["due_on"].strftime("%m-%d")
        mark = f'<br><span class="control-{_escape(last)}">{control.get(last) or _escape(last)}</span>' if last else ""
        return (
            f'  <li><a class="row" href="{href.format(int(r["id"]))}">\n'
            f'    <span><span class="who">{_escape(r["enrolment__patient__name"])}</span><br>'
            f'<span class="meta">{_escape(r["enrolment__programme__name"])}{village}</span></span>\n'
            f'    <span class="meta">{when}{mark}</span>\n'
            "  </a></li>"
        )

    body = "\n".join(row(r) for r in items) or f'<li class="empty">{_escape(empty)}</li>'
    # Every value is escaped in row() and _labels().
    return mark_safe(f'<ul class="worklist">\n{body}\n</ul>')  # noqa: S308
