"""Reads that may go to a read replica, and the pin that keeps a request on the primary once it writes.

With ``DATABASE_REPLICA_URL`` set, ``config/settings.py`` adds the database alias ``replica`` and
this router decides, per query, where a read goes.  In order:

1. No replica configured: everything is the primary (``default``).
2. Only reads a view opted into go to the replica: dashboards, exports and lists, marked with
   ``@reads_from_replica`` (their GETs, and the streamed body of an export, which is read after the
   view has returned).  Everything else, Celery tasks included, reads the primary.
3. A request that has written anything is pinned to the primary for the rest of the request, and a
   POST, PUT, PATCH or DELETE that wrote sets a short-lived cookie that pins the next requests of that
   browser too (``REPLICA_PIN_SECONDS``), so the page it is redirected to shows its own write even
   while the replica lags.
4. A read inside a transaction on the primary stays on the primary: it must see the transaction.

Writes always go to the primary; migrations run only there (the replica replicates them).
"""

import contextlib
import contextvars
import functools

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
PIN_COOKIE = "consortium_primary"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_replica_ok: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_ok", default=False)
_pinned: contextvars.ContextVar[bool] = contextvars.ContextVar("pinned_to_primary", default=False)
_wrote: contextvars.ContextVar[bool] = contextvars.ContextVar("wrote", default=False)
_in_request: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def pin_seconds() -> int:
    return int(getattr(settings, "REPLICA_PIN_SECONDS", 5))


def pinned() -> bool:
    return _pinned.get()


@contextlib.contextmanager
def replica_reads():
    """Within this block, reads may go to the replica (unless the request is pinned to the primary)."""
    token = _replica_ok.set(True)
    try:
        yield
    finally:
        _replica_ok.reset(token)


def _through_replica(chunks):
    """Iterate a streamed body with replica reads allowed while each chunk is made."""
    iterator = iter(chunks)
    while True:
        with replica_reads():
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk


def reads_from_replica(view):
    """Mark a dashboard, export or list view: its GET and HEAD reads may be served by the replica."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with replica_reads():
            response = view(request, *args, **kwargs)
        if getattr(response, "streaming", False):
            response.streaming_content = _through_replica(response.streaming_content)
        return response

    wrapped.reads_from_replica = True
    return wrapped


class ReplicaRouter:
    """Database router: see the module's docstring for the order of the rules."""

    def db_for_read(self, model, **hints):
        if not (_replica_ok.get() and replica_configured()) or _pinned.get():
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        return REPLICA

    def db_for_write(self, model, **hints):
        if _in_request.get():  # outside a request (tasks, commands) nothing reads the replica anyway
            _pinned.set(True)
            _wrote.set(True)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


class PrimaryPinMiddleware:
    """Starts each request unpinned (or pinned, if its cookie says a recent write came from this browser)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token, wrote, inside = _pinned.set(PIN_COOKIE in request.COOKIES), _wrote.set(False), _in_request.set(True)
        try:
            response = self.get_response(request)
            if _wrote.get() and request.method in UNSAFE_METHODS and replica_configured():
                response.set_cookie(PIN_COOKIE, "1", max_age=pin_seconds(), httponly=True, samesite="Lax")
            return response
        finally:
            _pinned.reset(token)
            _wrote.reset(wrote)
            _in_request.reset(inside)
