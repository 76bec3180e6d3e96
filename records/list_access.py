"""The access log of lists: one sealed row per page or API answer that shows patients in a list.

A queue, a worklist, a claim list, a team's panel or a household page shows many patients at once;
IHE ATNA asks for the query to be logged with who, role, institution, client, address, user agent,
purpose of use, outcome and what was shown.  Each such view is wrapped once:

* a function view with :func:`audited_list` (``@audited_list(PurposeOfUse.TREATMENT)``);
* a DRF view with :class:`AuditedListMixin` (``list_purpose = PurposeOfUse.PAYMENT``);

and says which patients it shows with :func:`note_listed` (ids, in the order shown; called as often as
the page has tables).  When the view has answered, one :class:`records.models.ListAccessLog` row is
written with all of them — one INSERT (and the chain head's lock and update) per request, whatever
the number of patients, in a transaction of its own so the chain head is held for three short
statements only.  A page that shows nobody writes nothing; a refused GET (403, 404, or
``PermissionDenied``/``Http404`` raised) by a signed-in principal writes a row with the outcome denied.

Calling :func:`note_listed` outside a wrapped view is an error: a list that is not wrapped would
otherwise go unlogged.
"""

import contextvars
import functools
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.http import Http404

from consortium.models import seal_chained_rows
from consortium.permissions import staff_of
from consortium.request_info import client_ip, current_request, user_agent

from .models import AccessAction, AccessOutcome, ListAccessLog, PurposeOfUse

DENIED_STATUSES = frozenset({403, 404})
READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class _Listing:
    purpose: str
    action: str
    patient_ids: list[int] = field(default_factory=list)
    _seen: set[int] = field(default_factory=set)

    def add(self, ids) -> None:
        for pk in ids:
            if pk is not None and pk not in self._seen:
                self._seen.add(pk)
                self.patient_ids.append(int(pk))


_listing: contextvars.ContextVar = contextvars.ContextVar("listed_patients", default=None)


def note_listed(patient_ids, *, action: AccessAction | None = None) -> None:
    """The patients (ids) the answer being built shows; ``action`` turns the entry into a search."""
    listing = _listing.get()
    if listing is None:
        raise RuntimeError("patients listed outside an audited list view (records.list_access)")
    listing.add(patient_ids)
    if action is not None:
        listing.action = action


def _value(row, path: str):
    for part in path.split("."):
        row = row[part] if isinstance(row, dict) else getattr(row, part)
    return row


def listed(rows, path: str = "patient_id") -> list:
    """Read the rows a page shows (once: the template iterates the same list), note their patients
    (``path``: the attribute or key of a row's patient id, dotted across relations) and return them."""
    rows = list(rows)
    note_listed(_value(row, path) for row in rows)
    return rows


def record_list_access(
    user,
    patient_ids,
    path: str,
    *,
    purpose: PurposeOfUse | str,
    action: AccessAction | str = AccessAction.LIST,
    outcome: AccessOutcome | str = AccessOutcome.ALLOWED,
) -> ListAccessLog:
    """Write one list entry (sealed into the audit chain) for ``user``; address and user agent come
    from the request being answered."""
    staff = staff_of(user)
    api_client = getattr(user, "api_client", None)
    request = current_request()
    entry = ListAccessLog(
        user=user if (user is not None and user.pk and api_client is None) else None,
        api_client=api_client,
        institution_id=staff.institution_id if staff else getattr(api_client, "institution_id", None),
        role=(staff.role if staff else "")[:32],  # an API client: the member system's role
        path=path[:300],
        action=action,
        purpose=purpose,
        outcome=outcome,
        ip=client_ip(request)[:45] if request is not None else "",
        user_agent=user_agent(request) if request is not None else "",
        patient_ids=[int(pk) for pk in patient_ids],
    )
    using = router.db_for_write(ListAccessLog)
    # Sealed and inserted in one transaction (no savepoint inside a caller's): the month's chain head
    # is locked, the row inserted, the head moved on — three statements, the head held until commit.
    with transaction.atomic(using=using, savepoint=False):
        seal_chained_rows([entry], using=using)
        ListAccessLog._base_manager.db_manager(using).bulk_create([entry])
    return entry


def _identified(user) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False))


def _finish(request, listing: _Listing, status: int | None) -> None:
    """Write the request's entry: denied (no patients) or the patients shown."""
    user = getattr(request, "user", None)
    if not _identified(user):
        return
    if status is None or status in DENIED_STATUSES:
        if request.method in READ_METHODS:
            record_list_access(
                user, [], request.path, purpose=listing.purpose, action=listing.action, outcome=AccessOutcome.DENIED
            )
    elif status < 400 and listing.patient_ids:
        record_list_access(user, listing.patient_ids, request.path, purpose=listing.purpose, action=listing.action)


def audited_list(purpose: PurposeOfUse, action: AccessAction = AccessAction.LIST):
    """Wrap a function view that shows patients in a list (see the module's docstring)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            listing = _Listing(purpose, action)
            token = _listing.set(listing)
            try:
                response = view(request, *args, **kwargs)
            except (PermissionDenied, Http404):
                _finish(request, listing, None)
                raise
            finally:
                _listing.reset(token)
            _finish(request, listing, response.status_code)
            return response

        wrapped.list_purpose = purpose
        return wrapped

    return decorate


class AuditedListMixin:
    """For a DRF view that lists patients: set ``list_purpose`` (and ``list_action``); the view calls
    :func:`note_listed`.  The entry names the principal DRF authenticated (a user or an API client)."""

    list_purpose: PurposeOfUse
    list_action: AccessAction = AccessAction.LIST
    #: Where a listed row (a model instance or a dict of values) keeps its patient's id.
    patient_id_field = "patient_id"

    def patient_ids_of(self, rows) -> list[int]:
        return [_value(row, self.patient_id_field) for row in rows]

    def paginate_queryset(self, queryset):
        """A generic list view's page: its patients are the ones listed."""
        page = super().paginate_queryset(queryset)
        note_listed(self.patient_ids_of(queryset if page is None else page))
        return page

    def dispatch(self, request, *args, **kwargs):
        listing = _Listing(self.list_purpose, self.list_action)
        token = _listing.set(listing)
        try:
            response = super().dispatch(request, *args, **kwargs)
        finally:
            _listing.reset(token)
        _finish(self.request, listing, response.status_code)
        return response


def list_purpose_of(view) -> str | None:
    """The purpose an URLconf entry's view is audited for as a list, or ``None`` (for the URLconf test)."""
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    if cls is not None and issubclass(cls, AuditedListMixin):
        return cls.list_purpose
    return getattr(view, "list_purpose", None)
