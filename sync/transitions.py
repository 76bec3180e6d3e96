"""The state machines of sync as tables: deliveries and inbound batches.

A service moves a row with ``advance_delivery`` / ``advance_batch``, which refuse any move the
table does not list (a ``ValidationError`` naming both statuses) and otherwise set the status;
the caller locks the row and saves it.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Delivery, DeliveryStatus, InboundBatch, InboundBatchStatus

#: Allowed delivery transitions: retry keeps a delivery pending, replay revives a dead or delivered one;
#: deactivating the endpoint cancels its pending deliveries for good.
DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    DeliveryStatus.PENDING: frozenset(
        {DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.DEAD, DeliveryStatus.CANCELLED}
    ),
    DeliveryStatus.DEAD: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.DELIVERED: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.CANCELLED: frozenset(),
}


#: Allowed batch transitions; processing -> processing is a restart after a crashed worker's lease expired.
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    InboundBatchStatus.RECEIVED: frozenset({InboundBatchStatus.PROCESSING, InboundBatchStatus.FAILED}),
    InboundBatchStatus.PROCESSING: frozenset(
        {InboundBatchStatus.PROCESSING, InboundBatchStatus.LANDED, InboundBatchStatus.FAILED}
    ),
    InboundBatchStatus.LANDED: frozenset(),
    InboundBatchStatus.FAILED: frozenset(),
}


def _advance(record: Delivery | InboundBatch, table: dict[str, frozenset[str]], to: str, message) -> None:
    """Move a delivery or batch to status ``to`` if its transition table allows it; ``message`` names both statuses."""
    if to not in table[record.status]:
        labels = dict(record._meta.get_field("status").choices)
        raise ValidationError(
            message, code="invalid_transition", params={"current": record.get_status_display(), "target": labels[to]}
        )
    record.status = to


def advance_delivery(delivery: Delivery, to: str) -> None:
    _advance(delivery, DELIVERY_TRANSITIONS, to, _("A %(current)s delivery cannot become %(target)s."))


def advance_batch(batch: InboundBatch, to: str) -> None:
    _advance(batch, BATCH_TRANSITIONS, to, _("A %(current)s batch cannot become %(target)s."))
