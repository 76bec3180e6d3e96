"""Sync's models: hospital endpoints, deliveries of outbox events to them, inbound visit batches.

The tables keep the names they had when these models lived in the ``consortium`` app
(``consortium_endpoint``, ``consortium_delivery``, ``consortium_inboundbatch``): migration
``sync.0001`` only moved them in Django's state, no row moved.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import ApiClient, Institution, OutboxEvent, OutboxEventType

#: Events a hospital endpoint may subscribe to.
ENDPOINT_EVENTS = (OutboxEventType.ENCOUNTER, OutboxEventType.REFERRAL, OutboxEventType.DISCHARGE)


class Endpoint(models.Model):
    """A hospital system's URL that receives pushed events as FHIR R4, signed with ``secret``."""

    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.CASCADE, related_name="sync_endpoints"
    )
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=128)
    events = models.JSONField(_("events"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    deactivated_at = models.DateTimeField(_("deactivated at"), null=True, blank=True)

    class Meta:
        db_table = "consortium_endpoint"
        verbose_name = _("sync endpoint")
        verbose_name_plural = _("sync endpoints")
        ordering = ["institution__code", "name"]
        constraints = [models.UniqueConstraint(fields=["institution", "url"], name="sync_endpoint_unique_url")]

    def __str__(self):
        return f"{self.institution} · {self.name}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    DEAD = "dead", _("Dead-lettered")
    CANCELLED = "cancelled", _("Cancelled (endpoint deactivated)")


class DeliveryQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for obj in objs:
            obj.fill_event_created_at()
        return super().bulk_create(objs, *args, **kwargs)


class Delivery(models.Model):
    """One outbox event on its way to one endpoint.

    Deliveries of one endpoint share a *lane* per patient: only the oldest pending delivery of
    a lane is attempted, so a patient's events arrive in the order they were written.  A worker
    claims a set of lane heads with a lease (``lease_until``, ``lease_token``); a crashed
    worker's lease simply expires.

    Partitioned on PostgreSQL by the month of its event (``event_created_at``, a copy of the event's
    ``created_at``), so a month of deliveries is archived with its month of events, just before it
    (``consortium.partitions``).  The outbox's key there is ``(id, created_at)``: ``event`` is no
    database foreign key of Django's (``db_constraint=False``); PostgreSQL enforces it as the composite
    key ``(event_id, event_created_at)`` → ``(id, created_at)`` (migration 0006), which also makes the
    unique ``(event, endpoint, event_created_at)`` there the same rule as ``(event, endpoint)``.
    Deleting an event still deletes its deliveries (Django's cascade).
    """

    PARTITION_BY, PARTITION_KEY, PARTITION_FOLLOWS = "event_created_at", "delivery", "outbox"
    PARTITION_HOLD = models.Q(status=DeliveryStatus.PENDING)

    event = models.ForeignKey(
        OutboxEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="deliveries", db_constraint=False
    )
    event_created_at = models.DateTimeField(_("event created at"), editable=False)
    endpoint = models.ForeignKey(Endpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE, related_name="deliveries")
    lane = models.CharField(_("lane"), max_length=100)
    #: Why the receiving institution may learn this (an access reason of records: own institution,
    #: own visits, consent, referral); written to the access log as the push's purpose when delivered.
    basis = models.CharField(_("disclosure basis"), max_length=16, blank=True)
    #: Resident ID, phone and address go only to the patient's home institution; others get them masked.
    with_identifiers = models.BooleanField(_("with identifiers"), default=False)
    idempotency_key = models.UUIDField(_("idempotency key"), default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    lease_token = models.UUIDField(_("lease token"), null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        db_table = "consortium_delivery"
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["event_id", "endpoint_id"]
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="sync_delivery_unique_event_endpoint")]
        indexes = [
            models.Index(fields=["endpoint", "lane", "status", "event"], name="sync_delivery_lane_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="sync_delivery_due_idx"),
            # The claim walks an endpoint's pending deliveries in event order (deliveries.claim_due_deliveries).
            models.Index(
                fields=["endpoint", "event"], condition=models.Q(status=DeliveryStatus.PENDING), name="sync_delivery_pending_idx"
            ),
        ]

    def __str__(self):
        return f"{self.event} -> {self.endpoint} ({self.status})"

    def save(self, *args, **kwargs):
        self.fill_event_created_at()
        super().save(*args, **kwargs)

    def fill_event_created_at(self) -> None:
        if self.event_created_at is None and self.event_id is not None:
            self.event_created_at = self.event.created_at


class InboundBatchStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSING = "processing", _("Processing")
    LANDED = "landed", _("Landed")
    FAILED = "failed", _("Failed")


class InboundBatch(models.Model):
    """A batch of visits uploaded by a clinic's own system under a client-chosen batch ID."""

    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="inbound_batches"
    )
    client_batch_id = models.CharField(_("batch ID"), max_length=64)
    api_client = models.ForeignKey(
        ApiClient, verbose_name=_("API client"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("submitted by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    all_or_nothing = models.BooleanField(_("all or nothing"), default=False)
    body_path = models.CharField(_("stored body"), max_length=300, editable=False)
    body_bytes = models.BigIntegerField(_("body size (bytes)"), default=0)
    #: SHA-256 of the body as uploaded: the same batch ID with another body is refused (409).
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=16, choices=InboundBatchStatus.choices, default=InboundBatchStatus.RECEIVED)
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_landed = models.PositiveIntegerField(_("rows landed"), default=0)
    rows_already_present = models.PositiveIntegerField(_("rows already present"), default=0)
    rows_failed = models.PositiveIntegerField(_("rows failed"), default=0)
    patients_created = models.PositiveIntegerField(_("patients registered"), default=0)
    row_errors = models.JSONField(_("row errors"), default=list, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)

    class Meta:
        db_table = "consortium_inboundbatch"
        verbose_name = _("inbound batch")
        verbose_name_plural = _("inbound batches")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "client_batch_id"], name="sync_inbound_batch_unique_client_id")
        ]

    def __str__(self):
        return f"{self.institution} · {self.client_batch_id} ({self.status})"
