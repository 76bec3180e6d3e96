"""Sending one round of claimed deliveries: the last checks before each POST, then the POST.

A worker holds a lease on the deliveries it claimed, but the endpoint may be deactivated (which
cancels them) or its host may come to resolve to an internal address while the round runs.  So
before each POST is handed to a sending thread, the endpoint is read again in this thread (one
primary-key lookup): once it is inactive or its URL changed, nothing more of the round is sent and
the deliveries not sent are left to what the deactivation made of them.  In the sending thread the
URL is checked again with a fresh DNS lookup (``destinations.check_url``) and the POST connects to
the address that passed; a refusal is recorded as a failed attempt with the reason.
"""

from concurrent.futures import FIRST_COMPLETED, wait

from django.utils.translation import gettext as _

from . import fhir
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
        timeout=sync_setting("SYNC_DELIVERY_TIMEOUT"),
    )


def _still_sendable(endpoint_id: int, url: str) -> bool:
    return Endpoint.objects.filter(pk=endpoint_id, is_active=True, url=url).exists()


def send_round(pool, endpoint_id: int, batch: list) -> dict[int, PostResult]:
    """POST the claimed ``batch`` with at most the pool's threads in flight; results by delivery id.

    Deliveries left unsent because the endpoint was deactivated or changed meanwhile get no result:
    they were cancelled (or will be claimed again under the new URL).
    """
    results: dict[int, PostResult] = {}
    waiting = list(batch)
    running: dict = {}
    parallel = max(1, sync_setting("SYNC_PARALLEL_POSTS"))
    while waiting or running:
        while waiting and len(running) < parallel:
            delivery = waiting.pop(0)
            if not _still_sendable(endpoint_id, delivery.endpoint.url):
                waiting.clear()
                break
            # The body is made here, not in the sending thread: a purged message is rebuilt from the database.
            running[pool.submit(_post, delivery, push_body(delivery))] = delivery.pk
        if not running:
            break
        done, _pending = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            results[running.pop(future)] = future.result()
    return results
