"""Sending one round of claimed deliveries: the last checks before each POST, then the POST.

A worker holds a lease on the deliveries it claimed, but the endpoint may be deactivated (which
cancels them) or its host may come to resolve to an internal address while the round runs.  So
before each POST is handed to a sending thread, the endpoint is read again in this thread (one
primary-key lookup): once it is inactive or its URL changed, nothing more of the round is sent and
the deliveries not sent are left to what the deactivation made of them.  In the sending thread the
URL is checked again with a fresh DNS lookup (``destinations.check_url``) and the POST connects to
the address that passed; a refusal is recorded as a failed attempt with the reason.

The lease (SYNC_LEASE_SECONDS) is renewed while the round runs: whenever a third of it has passed
(checked before each POST and at least every sixth of a lease while POSTs are in flight, in this
thread, so a renewal never races the recording of the round), every still-pending delivery held
under the round's token gets a fresh lease.  A POST starts only while the lease held outlasts it
(its timeout is at most half the lease, ``post_timeout``); if a renewal finds that any delivery of
the round is no longer held, the round sends nothing more.  So a second worker can take over a
delivery only after its holder stopped renewing (it died or lost the database), never while it
may still POST it.
"""

import datetime
import functools
from concurrent.futures import FIRST_COMPLETED, wait

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from . import deliveries, fhir
from .conf import sync_setting
from .delivery import PostResult, canonical_body, post
from .destinations import DestinationRefused, check_url
from .models import Endpoint


def push_body(delivery) -> bytes:
    """The body of a delivery: the event's message cut down to what the receiving institution may read."""
    message = delivery.event.fhir
    if message is None:
        # Purged after delivery or on consent withdrawal: a replay is built afresh from the record.
        message = fhir.build_message(delivery.event)
    return canonical_body(fhir.minimise(message, identifiers=delivery.with_identifiers))


def _post(delivery, body: bytes) -> PostResult:
    try:
        destination = check_url(delivery.endpoint.url)
    except DestinationRefused as exc:
        return PostResult(False, None, (_("Refused before sending: %(reason)s") % {"reason": exc.message})[:500])
    return post(
        destination=destination,
        secret=delivery.endpoint.secret,
        event_type=delivery.event.event_type,
        idempotency_key=str(delivery.idempotency_key),
        body=body,
        timeout=post_timeout(),
    )


def post_timeout() -> float:
    """The timeout of one POST: SYNC_DELIVERY_TIMEOUT, but never more than half the lease."""
    return min(sync_setting("SYNC_DELIVERY_TIMEOUT"), sync_setting("SYNC_LEASE_SECONDS") / 2)


class RoundLease:
    """The lease a round holds on its claimed deliveries: one token, renewed as the round goes."""

    def __init__(self, batch: list):
        self.token = batch[0].lease_token
        self.until = min(delivery.lease_until for delivery in batch)
        self.seconds = sync_setting("SYNC_LEASE_SECONDS")
        self.size = len(batch)
        self.lost = False

    def keep(self) -> bool:
        """Renew once a third of the lease has passed; False once any delivery of the round is no longer held."""
        if self.lost:
            return False
        if self.until - timezone.now() < datetime.timedelta(seconds=self.seconds * 2 / 3):
            count, self.until = deliveries.renew_lease(self.token, seconds=self.seconds)
            if count != self.size:
                # Cancelled by a deactivation, or (after a stall longer than the lease) taken over.
                self.lost = True
        return not self.lost

    def covers(self, seconds: float) -> bool:
        """Whether the lease held outlasts something that takes ``seconds`` from now (a fresh clock)."""
        return self.until - timezone.now() > datetime.timedelta(seconds=seconds)

    @property
    def heartbeat(self) -> float:
        return self.seconds / 6


def _still_sendable(endpoint_id: int, url: str) -> bool:
    """One primary-key probe before each POST, in plain SQL: building it through the ORM cost a worker
    more CPU than the query itself (a quarter of a delivering worker's time at 5,000 pushes)."""
    with connection.cursor() as cursor:
        cursor.execute(_sendable_sql(), [endpoint_id, url])
        return cursor.fetchone() is not None


@functools.cache
def _sendable_sql() -> str:
    meta, quote = Endpoint._meta, connection.ops.quote_name
    column = {name: quote(meta.get_field(name).column) for name in ("id", "is_active", "url")}
    return (
        f"SELECT 1 FROM {quote(meta.db_table)} "  # noqa: S608 - names from the model, values bound
        f"WHERE {column['id']} = %s AND {column['is_active']} AND {column['url']} = %s"
    )


def send_round(pool, endpoint_id: int, batch: list) -> dict[int, PostResult]:
    """POST the claimed ``batch`` with at most the pool's threads in flight; results by delivery id.

    Deliveries left unsent because the endpoint was deactivated or changed meanwhile, or because
    the round's lease was lost, get no result: they were cancelled, or are another worker's now
    (or will be claimed again under the new URL).
    """
    results: dict[int, PostResult] = {}
    if not batch:
        return results
    lease = RoundLease(batch)
    waiting = list(batch)
    running: dict = {}
    parallel = max(1, sync_setting("SYNC_PARALLEL_POSTS"))
    timeout = post_timeout()
    while waiting or running:
        while waiting and len(running) < parallel:
            delivery = waiting.pop(0)
            if not (lease.keep() and lease.covers(timeout)) or not _still_sendable(endpoint_id, delivery.endpoint.url):
                waiting.clear()
                break
            # The body is made here, not in the sending thread: a purged message is rebuilt from the database.
            running[pool.submit(_post, delivery, push_body(delivery))] = delivery.pk
        if not running:
            break
        # Wake up at least every sixth of a lease: the lease is renewed even while every POST hangs.
        done, _pending = wait(running, timeout=lease.heartbeat, return_when=FIRST_COMPLETED)
        for future in done:
            results[running.pop(future)] = future.result()
        if running:
            lease.keep()  # the deliveries sent but not yet recorded stay ours too
    return results
