"""Limit/offset pages for every list of the API, with their bounds checked rather than guessed.

DRF's own LimitOffsetPagination quietly replaces a bad ``limit`` with the default and passes any
``offset`` to the database (2**63 gives a 500 there). Here both are read strictly: ASCII digits,
``limit`` from 1 to :data:`MAX_LIMIT`, ``offset`` from 0 to :data:`MAX_OFFSET`; anything else is a
400 problem (code ``out_of_range``) naming the parameter and the allowed range, which the schema
states too (``minimum``/``maximum``).
"""

import re

from django.utils.translation import gettext as _
from rest_framework.pagination import LimitOffsetPagination

from .errors import Invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_OFFSET = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,12}")


def bounded_int(request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as an int in [low, high]; ``default`` if absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise Invalid(
            _("%(name)s must be a whole number from %(low)d to %(high)d.") % {"name": name, "low": low, "high": high},
            field=name,
            code="out_of_range",
            extra={"allowed": {"parameter": name, "minimum": low, "maximum": high}},
        )
    return value


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT
    max_offset = MAX_OFFSET

    def get_limit(self, request):
        return bounded_int(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request):
        return bounded_int(request, self.offset_query_param, 0, 0, self.max_offset)

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"].update(minimum=1, maximum=self.max_limit, default=self.default_limit)
        offset["schema"].update(minimum=0, maximum=self.max_offset, default=0)
        return [limit, offset]
