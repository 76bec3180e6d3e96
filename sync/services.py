"""Writes of the sync subsystem: endpoints, deliveries and their state machine, inbound batches.

Every state change locks the row it changes, checks the transition table, writes, and
records an audit event in one transaction.  Enqueueing Celery tasks happens on commit and is
best-effort: the database is the source of truth and the beat sweep re-enqueues anything
a lost message or a dead broker left behind.
"""

import datetime
import random
import secrets
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Min, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import Department, Institution, Membership, OutboxEvent, OutboxEventType
from consortium.permissions import MEMBER_SYSTEM_ROLE, Action, can, staff_of
from consortium.services import record_audit_event
from records.matching import Incoming, Outcome, match_patients, survivors_of
from records.models import ChargeItem, Diagnosis, Encounter, MatchReview, Patient, identifier_hash

from . import bulk, fhir, fhir_inbound, ingest
from .conf import sync_setting
from .delivery import PostResult
from .enqueue import enqueue_batch, enqueue_dispatch, enqueue_endpoint
from .models import ENDPOINT_EVENTS, Delivery, DeliveryStatus, Endpoint, InboundBatch, InboundBatchStatus

#: Allowed delivery transitions: retry keeps a delivery pending, replay revives a dead or delivered one.
DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    DeliveryStatus.PENDING: frozenset({DeliveryStatus.PENDING, DeliveryStatus.DELIVERED, DeliveryStatus.DEAD}),
    DeliveryStatus.DEAD: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.DELIVERED: frozenset({DeliveryStatus.PENDING}),
}


def _advance(record: Delivery | InboundBatch, table: dict[str, frozenset[str]], to: str, message) -> None:
    """Move a delivery or batch to status ``to`` if its transition table allows it; ``message`` names both statuses."""
    if to not in table[record.status]:
        labels = dict(record._meta.get_field("status").choices)
        raise ValidationError(
            message, code="invalid_transition", params={"current": record.get_status_display(), "target": labels[to]}
        )
    record.status = to


def _transition(delivery: Delivery, to: str) -> None:
    _advance(delivery, DELIVERY_TRANSITIONS, to, _("A %(current)s delivery cannot become %(target)s."))


def _kick_endpoint(endpoint_id: int) -> None:
    transaction.on_commit(lambda: enqueue_endpoint(endpoint_id), robust=True)


# --- endpoints -------------------------------------------------------------------------------


def _validate_endpoint(*, institution: Institution, name: str, url: str, events) -> list[str]:
    errors: dict[str, list[str]] = {}
    if not institution.is_hospital:
        errors.setdefault("institution", []).append(_("Only county and city hospitals register sync endpoints."))
    if not name or not name.strip():
        errors.setdefault("name", []).append(_("Give the endpoint a name."))
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors.setdefault("url", []).append(_("Enter an http or https URL."))
    if not isinstance(events, list | tuple) or not events:
        errors.setdefault("events", []).append(_("Choose at least one event."))
    else:
        unknown = [event for event in events if event not in ENDPOINT_EVENTS]
        if unknown:
            errors.setdefault("events", []).append(
                _("Unknown events: %(events)s. Choose from %(allowed)s.")
                % {"events": ", ".join(map(str, unknown)), "allowed": ", ".join(ENDPOINT_EVENTS)}
            )
    if errors:
        raise ValidationError(errors)
    return sorted(set(events))


def endpoint_register(*, actor, institution: Institution, name: str, url: str, events, secret: str = "") -> Endpoint:
    """Register a hospital endpoint; a signing secret is generated when none is given."""
    events = _validate_endpoint(institution=institution, name=name, url=url, events=events)
    if secret and len(secret) < 16:
        raise ValidationError({"secret": [_("A signing secret needs at least 16 characters.")]})
    with transaction.atomic():
        if Endpoint.objects.filter(institution=institution, url=url).exists():
            raise ValidationError({"url": [_("This institution already has an endpoint with this URL.")]})
        endpoint = Endpoint.objects.create(
            institution=institution, name=name.strip(), url=url, events=events, secret=secret or secrets.token_urlsafe(32)
        )
        record_audit_event(
            actor=actor, action="sync.endpoint_registered", obj=endpoint, institution=institution, detail={"events": events}
        )
    return endpoint


def endpoint_deactivate(*, actor, endpoint: Endpoint) -> Endpoint:
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.is_active = False
        endpoint.save(update_fields=["is_active"])
        record_audit_event(actor=actor, action="sync.endpoint_deactivated", obj=endpoint, institution=endpoint.institution)
    return endpoint


# --- dispatch: outbox event -> deliveries ----------------------------------------------------


def lane_for(event: OutboxEvent) -> str:
    """Events of one patient share a lane; events without a patient get one per object."""
    if event.patient_id is not None:
        return f"patient:{event.patient_id}"
    return f"{event.aggregate_type}:{event.aggregate_id}"[:100]


def _peer_ids(institution_id: int, on: datetime.date) -> frozenset[int]:
    return frozenset(Membership.objects.co_members_of(institution_id, on).values_list("institution_id", flat=True))


def _consenting(patient_ids: set[int]) -> frozenset[int]:
    return frozenset(Patient.objects.filter(pk__in=patient_ids, consents_to_sharing=True).values_list("pk", flat=True))


#: Events that go to the institutions party to them (``fhir.parties_of``) rather than by consent.
PARTY_EVENTS = frozenset({OutboxEventType.REFERRAL, OutboxEventType.DISCHARGE})


def _recipients(
    event: OutboxEvent, endpoints: list[Endpoint], peers: dict, consenting: frozenset[int], about: dict
) -> list[Endpoint]:
    """Endpoints that may learn about ``event``.

    Referral and discharge events go to the institutions party to them.  Encounter events go
    to the source institution's own endpoints, and to peer members of its consortia only when
    the patient consents to sharing.
    """
    subscribed = [endpoint for endpoint in endpoints if event.event_type in endpoint.events]
    if not subscribed:
        return []
    if event.event_type in PARTY_EVENTS:
        parties = fhir.parties_of(event, about)
        if parties is not None:
            return [endpoint for endpoint in subscribed if endpoint.institution_id in parties]
    if event.institution_id is None:
        return []
    if event.institution_id not in peers:
        peers[event.institution_id] = _peer_ids(event.institution_id, timezone.localdate())
    shared = event.patient_id in consenting
    return [
        endpoint
        for endpoint in subscribed
        if endpoint.institution_id == event.institution_id or (shared and endpoint.institution_id in peers[event.institution_id])
    ]


def dispatch_pending_events(*, limit: int = 500) -> set[int]:
    """Turn undispatched outbox events into deliveries; returns the endpoints that got work."""
    lanes: set[int] = set()
    with transaction.atomic():
        events = list(
            OutboxEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("institution")
            .filter(dispatched_at__isnull=True)
            .order_by("pk")[:limit]
        )
        if not events:
            return lanes
        endpoints = list(Endpoint.objects.filter(is_active=True))
        consenting = _consenting({event.patient_id for event in events if event.patient_id is not None})
        peers: dict[int, frozenset[int]] = {}
        now = timezone.now()
        deliveries = []
        about = fhir.preload([event for event in events if event.event_type in PARTY_EVENTS])
        routed = [(event, _recipients(event, endpoints, peers, consenting, about)) for event in events]
        about.update(fhir.preload([event for event, recipients in routed if recipients and fhir.key_of(event) not in about]))
        for event, recipients in routed:
            event.dispatched_at = now
            if not recipients:
                continue
            event.fhir = fhir.build_message(event, about)
            lane = lane_for(event)
            for endpoint in recipients:
                deliveries.append(Delivery(event=event, endpoint=endpoint, lane=lane, next_attempt_at=now, created_at=now))
                lanes.add(endpoint.pk)
        Delivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
        OutboxEvent.objects.bulk_update(events, ["dispatched_at", "fhir"], batch_size=500)
    return lanes


# --- one delivery attempt --------------------------------------------------------------------


def claim_due(endpoint_id: int, *, limit: int) -> list[Delivery]:
    """Lease up to ``limit`` due lane heads of an endpoint, at most one per lane.

    Only the oldest pending delivery of a lane (its head) is ever claimed, and a lane whose head
    is leased or waiting for its back-off is skipped, so one patient's events go out in order
    while other patients' events flow past a failing one.
    """
    now = timezone.now()
    pending = Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING)
    heads = pending.order_by().values("lane").annotate(head=Min("event_id")).values("head")
    unleased = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    ids = list(
        pending.filter(event_id__in=Subquery(heads), next_attempt_at__lte=now)
        .filter(unleased)
        .order_by("event_id")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return []
    token = uuid.uuid4()
    lease_until = now + datetime.timedelta(seconds=sync_setting("SYNC_LEASE_SECONDS"))
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.PENDING).filter(unleased).update(
        lease_until=lease_until, lease_token=token
    )
    return list(Delivery.objects.filter(pk__in=ids, lease_token=token).select_related("event", "endpoint").order_by("event_id"))


def next_attempt_at(endpoint_id: int) -> datetime.datetime | None:
    """When the earliest pending, unleased delivery of the endpoint becomes due."""
    now = timezone.now()
    return (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
        .aggregate(when=Min("next_attempt_at"))["when"]
    )


def active_claims(endpoint_id: int) -> int:
    """How many workers hold live leases on this endpoint's deliveries."""
    return (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, lease_until__gt=timezone.now())
        .values("lease_token")
        .distinct()
        .count()
    )


def backoff_seconds(attempts: int) -> float:
    """Exponential back-off with jitter: half the doubled delay is fixed, half is random."""
    base = sync_setting("SYNC_RETRY_BASE_SECONDS")
    delay = min(sync_setting("SYNC_RETRY_MAX_SECONDS"), base * 2 ** max(attempts - 1, 0))
    return delay / 2 + random.uniform(0, delay / 2)


def _apply_failure(delivery: Delivery, result: PostResult, now) -> None:
    """A failed POST: back off for another try, or dead-letter after the last one."""
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = result.status_code
    delivery.lease_until = None
    delivery.lease_token = None
    delivery.last_error = result.error[:500]
    if delivery.attempts >= sync_setting("SYNC_MAX_ATTEMPTS"):
        _transition(delivery, DeliveryStatus.DEAD)
    else:
        _transition(delivery, DeliveryStatus.PENDING)
        delivery.next_attempt_at = now + datetime.timedelta(seconds=backoff_seconds(delivery.attempts))


def delivery_record_attempts(results: dict[int, PostResult]) -> int:
    """Record the outcome of a round of POSTs in one transaction: delivered, back-off, or dead-lettered.

    Successes are settled with one UPDATE per HTTP status; each failure gets its own back-off.
    A delivery replayed or settled meanwhile is left as it is.  Returns how many were delivered.
    """
    now = timezone.now()
    with transaction.atomic():
        pending = set(
            Delivery.objects.select_for_update()
            .filter(pk__in=results, status=DeliveryStatus.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        succeeded: dict[int | None, list[int]] = {}
        for pk in pending:
            if results[pk].ok:
                succeeded.setdefault(results[pk].status_code, []).append(pk)
        for status_code, pks in succeeded.items():
            Delivery.objects.filter(pk__in=pks).update(
                status=DeliveryStatus.DELIVERED,
                attempts=F("attempts") + 1,
                last_attempt_at=now,
                last_status_code=status_code,
                delivered_at=now,
                last_error="",
                lease_until=None,
                lease_token=None,
            )
        for delivery in Delivery.objects.filter(pk__in=[pk for pk in pending if not results[pk].ok]):
            _apply_failure(delivery, results[delivery.pk], now)
            delivery.save()
    return sum(len(pks) for pks in succeeded.values())


# --- operator actions: retry now, replay -----------------------------------------------------


def delivery_retry_now(*, actor, delivery: Delivery) -> Delivery:
    """Skip the remaining back-off of a pending delivery."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
        if delivery.status != DeliveryStatus.PENDING:
            raise ValidationError(
                _("Only a pending delivery can be retried; replay a dead or delivered one."), code="not_pending"
            )
        _transition(delivery, DeliveryStatus.PENDING)
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "next_attempt_at"])
        record_audit_event(actor=actor, action="sync.delivery_retried", obj=delivery, institution=delivery.endpoint.institution)
        _kick_endpoint(delivery.endpoint_id)
    return delivery


def delivery_replay(*, actor, delivery: Delivery) -> Delivery:
    """Send a dead-lettered or delivered event again, with the same idempotency key."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
        previous = delivery.status
        if previous == DeliveryStatus.PENDING:
            raise ValidationError(_("This delivery is still pending; retry it instead of replaying it."), code="pending")
        _transition(delivery, DeliveryStatus.PENDING)
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.delivered_at = None
        delivery.lease_until = None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at", "delivered_at", "lease_until"])
        record_audit_event(
            actor=actor,
            action="sync.delivery_replayed",
            obj=delivery,
            institution=delivery.endpoint.institution,
            detail={"previous_status": previous},
        )
        _kick_endpoint(delivery.endpoint_id)
    return delivery


def endpoint_replay_dead(*, actor, endpoint: Endpoint) -> int:
    """Replay every dead-lettered delivery of an endpoint; returns how many."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint.pk)
        dead = Delivery.objects.select_for_update().filter(endpoint=endpoint, status=DeliveryStatus.DEAD)
        count = dead.update(
            status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), lease_until=None, delivered_at=None
        )
        record_audit_event(
            actor=actor,
            action="sync.endpoint_replayed_dead",
            obj=endpoint,
            institution=endpoint.institution,
            detail={"count": count},
        )
        _kick_endpoint(endpoint.pk)
    return count


# --- inbound batches -------------------------------------------------------------------------

#: Allowed batch transitions; processing -> processing is a restart after a crashed worker's lease expired.
BATCH_TRANSITIONS: dict[str, frozenset[str]] = {
    InboundBatchStatus.RECEIVED: frozenset({InboundBatchStatus.PROCESSING, InboundBatchStatus.FAILED}),
    InboundBatchStatus.PROCESSING: frozenset(
        {InboundBatchStatus.PROCESSING, InboundBatchStatus.LANDED, InboundBatchStatus.FAILED}
    ),
    InboundBatchStatus.LANDED: frozenset(),
    InboundBatchStatus.FAILED: frozenset(),
}
_BATCH_LEASE = datetime.timedelta(minutes=5)
_MAX_REPORTED_SHAPE_ERRORS = 100


class BatchTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


class BatchRejected(Exception):
    """The upload is not acceptable as a whole; ``errors`` name the row and field of each problem."""

    def __init__(self, errors: list[dict], status: int = 400):
        super().__init__(errors)
        self.errors = errors
        self.status = status


def _batch_transition(batch: InboundBatch, to: str) -> None:
    _advance(batch, BATCH_TRANSITIONS, to, _("A %(current)s batch cannot become %(target)s."))


def _spool_dir() -> Path:
    path = Path(settings.VAR_DIR) / "sync" / "inbound"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _spool(stream, limit: int) -> tuple[Path, int]:
    path = _spool_dir() / f"upload-{uuid.uuid4().hex}.json"
    size = 0
    with path.open("wb") as out:
        while True:
            chunk = stream.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                out.close()
                path.unlink(missing_ok=True)
                raise BatchTooLarge(limit)
            out.write(chunk)
    return path, size


def _scan(path: Path) -> tuple[dict, int, list[dict]]:
    """One streaming pass: header fields, number of visits, shape errors (first 100)."""
    header: dict = {}
    errors: list[dict] = []
    rows = 0
    saw_visits = False
    with path.open("rb") as body:
        try:
            for kind, key, value in ingest.iter_body(body):
                if kind == "visit":
                    saw_visits = True
                    rows += 1
                    if len(errors) < _MAX_REPORTED_SHAPE_ERRORS:
                        problems = ingest.check_shape(key, value)
                        if problems and isinstance(value, dict) and "_entry" in value:
                            for problem in problems:
                                problem["entry"] = value["_entry"]
                        errors += problems
                else:
                    error = ingest.check_header(key, value)
                    if error:
                        errors.append(error)
                    else:
                        header[key] = value
        except ingest.BodyError as exc:
            return header, rows, [exc.as_dict()]
    if not saw_visits and not any(error["field"] == "visits" for error in errors):
        errors.append({"row": None, "field": "visits", "code": "required", "message": str(_("Give at least one visit."))})
    return header, rows, errors[:_MAX_REPORTED_SHAPE_ERRORS]


def _batch_institution(actor, header: dict) -> Institution:
    staff = staff_of(actor)
    code = header.get("institution")
    if staff is not None and staff.role == MEMBER_SYSTEM_ROLE:
        if code and code != staff.institution.code:
            raise BatchRejected(
                [
                    {
                        "row": None,
                        "field": "institution",
                        "code": "not_own",
                        "message": str(_("A member system uploads for its own institution only.")),
                    }
                ]
            )
        return staff.institution
    if not code:
        if staff is not None and staff.institution_id:
            code = staff.institution.code
        else:
            raise BatchRejected(
                [{"row": None, "field": "institution", "code": "required", "message": str(_("This field is required."))}]
            )
    institution = Institution.objects.filter(code=code, is_active=True).first()
    if institution is None:
        raise BatchRejected(
            [{"row": None, "field": "institution", "code": "unknown", "message": str(_("No active institution has this code."))}]
        )
    if not can(actor, Action.RECORD_ENCOUNTER, institution):
        raise PermissionDenied
    return institution


def batch_receive(*, actor, stream, content_length: int | None) -> tuple[InboundBatch, bool]:
    """Store an uploaded batch and queue it for landing; returns ``(batch, created)``.

    The body is streamed to disk (never held in memory) and checked for shape in one
    streaming pass.  Uploading a batch ID again returns the first batch untouched.
    """
    limit = sync_setting("SYNC_MAX_BATCH_BYTES")
    if content_length is not None and content_length > limit:
        raise BatchTooLarge(limit)
    path, size = _spool(stream, limit)
    try:
        if fhir_inbound.looks_like_bundle(path):
            path = _convert_bundle(path)
        header, rows, errors = _scan(path)
        if errors:
            raise BatchRejected(errors)
        batch_id = header.get("batch_id", "").strip()
        if not batch_id or len(batch_id) > 64:
            raise BatchRejected(
                [
                    {
                        "row": None,
                        "field": "batch_id",
                        "code": "invalid",
                        "message": str(_("Give a batch ID of 1 to 64 characters.")),
                    }
                ]
            )
        institution = _batch_institution(actor, header)
        with transaction.atomic():
            existing = InboundBatch.objects.filter(institution=institution, client_batch_id=batch_id).first()
            if existing is not None:
                path.unlink(missing_ok=True)
                return existing, False
            final = path.with_name(f"batch-{institution.pk}-{uuid.uuid4().hex}.json")
            path.rename(final)
            path = final
            api_client = getattr(actor, "api_client", None)
            batch = InboundBatch.objects.create(
                institution=institution,
                client_batch_id=batch_id,
                api_client=api_client,
                submitted_by=None if api_client else actor,
                all_or_nothing=header.get("all_or_nothing", False),
                body_path=str(final.relative_to(Path(settings.VAR_DIR))),
                body_bytes=size,
                rows_total=rows,
            )
            record_audit_event(
                actor=actor,
                action="sync.batch_received",
                obj=batch,
                institution=institution,
                detail={"batch_id": batch_id, "rows": rows, "bytes": size},
            )
            transaction.on_commit(lambda: _enqueue_batch(batch.pk), robust=True)
        return batch, True
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _convert_bundle(path: Path) -> Path:
    """Turn an uploaded FHIR Bundle into a plain visit batch file; reject it with entry-level errors."""
    try:
        with path.open("rb") as body:
            header, visits, errors = fhir_inbound.convert(body)
    except ingest.BodyError as exc:
        path.unlink(missing_ok=True)
        raise BatchRejected([exc.as_dict()]) from None
    path.unlink(missing_ok=True)
    if errors:
        raise BatchRejected(errors)
    converted = _spool_dir() / f"upload-{uuid.uuid4().hex}.json"
    fhir_inbound.write_visits(converted, header, visits)
    return converted


def _enqueue_batch(batch_id: int) -> None:
    enqueue_batch(batch_id)


def _claim_batch(batch_id: int) -> InboundBatch | None:
    with transaction.atomic():
        batch = InboundBatch.objects.select_for_update().select_related("institution").get(pk=batch_id)
        now = timezone.now()
        if batch.status == InboundBatchStatus.PROCESSING and batch.lease_until and batch.lease_until > now:
            return None
        if batch.status not in (InboundBatchStatus.RECEIVED, InboundBatchStatus.PROCESSING):
            return None
        _batch_transition(batch, InboundBatchStatus.PROCESSING)
        batch.lease_until = now + _BATCH_LEASE
        batch.started_at = batch.started_at or now
        batch.save(update_fields=["status", "lease_until", "started_at"])
    return batch


class _Rollback(Exception):
    pass


@dataclass
class _Tally:
    landed: int = 0
    already_present: int = 0
    patients_created: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)

    def fail(self, errors: list[dict]) -> None:
        rows = {error["row"] for error in errors}
        self.failed += len(rows)
        room = sync_setting("SYNC_MAX_REPORTED_ERRORS") - len(self.errors)
        if room > 0:
            self.errors += errors[:room]


def batch_land(*, batch_id: int) -> InboundBatch | None:
    """Validate and land a received batch in chunks, set-based; safe to run again after a crash."""
    batch = _claim_batch(batch_id)
    if batch is None:
        return None
    path = Path(settings.VAR_DIR) / batch.body_path
    if not path.exists():
        return _batch_finish(batch, None, _("The stored body of this batch is missing; upload it again under a new batch ID."))
    tally = _Tally()
    try:
        if batch.all_or_nothing:
            try:
                with transaction.atomic():
                    _land_chunks(batch, path, tally)
                    if tally.failed:
                        raise _Rollback
            except _Rollback:
                return _batch_finish(
                    batch,
                    tally,
                    _("%(count)d rows have errors; with all_or_nothing nothing was landed.") % {"count": tally.failed},
                )
        else:
            _land_chunks(batch, path, tally)
    except ingest.BodyError as exc:
        return _batch_finish(batch, tally, exc.message)
    return _batch_finish(batch, tally, "")


def _batch_finish(batch: InboundBatch, tally: "_Tally | None", failure: str) -> InboundBatch:
    with transaction.atomic():
        batch = InboundBatch.objects.select_for_update().get(pk=batch.pk)
        target = InboundBatchStatus.FAILED if failure else InboundBatchStatus.LANDED
        _batch_transition(batch, target)
        batch.finished_at = timezone.now()
        batch.lease_until = None
        batch.failure_reason = str(failure)
        if tally is not None:
            landed = 0 if failure and batch.all_or_nothing else tally.landed
            batch.rows_landed = landed
            batch.rows_already_present = 0 if failure and batch.all_or_nothing else tally.already_present
            batch.rows_failed = tally.failed
            batch.patients_created = 0 if failure and batch.all_or_nothing else tally.patients_created
            batch.row_errors = tally.errors
        batch.save()
        record_audit_event(
            actor=None,
            action=f"sync.batch_{target}",
            obj=batch,
            institution=batch.institution,
            detail={"landed": batch.rows_landed, "failed": batch.rows_failed, "already_present": batch.rows_already_present},
        )
    (Path(settings.VAR_DIR) / batch.body_path).unlink(missing_ok=True)
    return batch


def _land_chunks(batch: InboundBatch, path: Path, tally: _Tally) -> None:
    departments = dict(Department.objects.filter(institution=batch.institution).values_list("code", "pk"))
    seen: set[str] = set()
    chunk: list[ingest.CleanVisit] = []
    size = sync_setting("SYNC_INGEST_CHUNK")
    with path.open("rb") as body:
        for row, data in ingest.iter_visits(body):
            # The shape was checked when the body was received; this file is the platform's own copy.
            visit, errors = ingest.clean_visit(row, data, departments=departments, seen_ids=seen)
            if errors and "_entry" in data:
                for error in errors:
                    error["entry"] = data["_entry"]
            if errors:
                tally.fail(errors)
                continue
            chunk.append(visit)
            if len(chunk) >= size:
                _land_chunk(batch, chunk, tally)
                chunk = []
    if chunk:
        _land_chunk(batch, chunk, tally)


def _land_chunk(batch: InboundBatch, visits: list, tally: _Tally) -> None:
    with transaction.atomic():
        InboundBatch.objects.filter(pk=batch.pk).update(lease_until=timezone.now() + _BATCH_LEASE)
        patient_ids, errors, created = _match_patients(batch.institution, visits, source=f"inbound batch {batch.client_batch_id}")
        tally.patients_created += created
        if errors:
            tally.fail(errors)
            visits = [visit for visit in visits if visit.row in patient_ids]
        external_ids = [visit.external_id for visit in visits]
        present = set(
            Encounter.objects.filter(institution=batch.institution, external_id__in=external_ids).values_list(
                "external_id", flat=True
            )
        )
        fresh = [visit for visit in visits if visit.external_id not in present]
        tally.already_present += len(visits) - len(fresh)
        now = timezone.now()
        encounters = [
            {
                "patient_id": patient_ids[visit.row],
                "institution_id": batch.institution_id,
                "department_id": visit.department_id,
                "kind": visit.kind,
                "started_at": visit.started_at,
                "ended_at": visit.ended_at,
                "chief_complaint": visit.chief_complaint,
                "external_id": visit.external_id,
                "created_at": now,
            }
            for visit in fresh
        ]
        inserted = dict(
            (external_id, pk)
            for pk, external_id in bulk.copy_upsert_returning(
                Encounter,
                encounters,
                conflict_target="(institution_id, external_id) WHERE NOT (external_id = '')",
                returning=["id", "external_id"],
            )
        )
        tally.already_present += len(fresh) - len(inserted)
        diagnoses, charges, events = [], [], []
        payload = {"source": "inbound_batch", "batch": batch.pk}
        for visit in fresh:
            encounter_id = inserted.get(visit.external_id)
            if encounter_id is None:
                continue
            diagnoses += [
                {"encounter_id": encounter_id, "code": code, "description": description, "is_primary": primary}
                for code, description, primary in visit.diagnoses
            ]
            charges += [{"encounter_id": encounter_id, **item} for item in visit.charge_items]
            events.append(
                {
                    "event_type": OutboxEventType.ENCOUNTER,
                    "aggregate_type": "records.encounter",
                    "aggregate_id": str(encounter_id),
                    "patient_id": patient_ids[visit.row],
                    "institution_id": batch.institution_id,
                    "payload": payload,
                    "created_at": now,
                }
            )
        bulk.copy_insert(Diagnosis, diagnoses)
        bulk.copy_insert(ChargeItem, charges)
        bulk.copy_insert(OutboxEvent, events)
        tally.landed += len(inserted)
        if events:
            transaction.on_commit(_enqueue_dispatch, robust=True)


def _enqueue_dispatch() -> None:
    enqueue_dispatch()


def _known_patients(hashes: set[str]) -> dict[str, int]:
    """``{resident ID hash: patient id}`` for known numbers, a merged patient resolved to its survivor."""
    found = list(Patient.objects.filter(resident_id_hash__in=hashes).only("pk", "resident_id_hash", "merged_into"))
    survivor = survivors_of(found)
    return {patient.resident_id_hash: survivor(patient).pk for patient in found}


def _match_patients(institution: Institution, visits: list, *, source: str) -> tuple[dict[int, int], list[dict], int]:
    """Match a chunk's patients through the master patient index, set-based; register the new ones in bulk.

    A resident ID the index knows is an exact match (one query for the chunk).  The rest go
    through ``records.matching.match_patients`` (exact on insurance number, otherwise a scored
    match, a fixed number of queries): linked matches reuse the patient; uncertain ones register
    a new patient and queue the pair for review, as the records app does.  A new patient needs a
    valid resident ID and a name.  Returns ``({row: patient_id}, row errors, patients created)``.
    """
    errors: list[dict] = []
    matched: dict[int, int] = {}
    known = _known_patients({visit.patient.resident_id_hash for visit in visits if visit.patient.resident_id_hash})
    rest = []
    for visit in visits:
        resident_hash = visit.patient.resident_id_hash
        if resident_hash in known:
            matched[visit.row] = known[resident_hash]
            continue
        if resident_hash:
            problems = ingest.check_new_resident_id(visit.row, visit.patient)
            if problems:
                errors += problems
                continue
        rest.append(visit)
    if not rest:
        return matched, errors, 0
    incoming = [
        Incoming.of(
            {
                "name": visit.patient.name,
                "sex": visit.patient.sex,
                "birth_date": visit.patient.birth_date,
                "resident_id": visit.patient.resident_id,
                "insurance_number": visit.patient.insurance_number,
                "village": visit.patient.village,
            }
        )
        for visit in rest
    ]
    to_create: dict[str, dict] = {}
    waiting: list = []
    for visit, row, result in zip(rest, incoming, match_patients(incoming), strict=True):
        patient = visit.patient
        if result.outcome in (Outcome.EXACT, Outcome.LINKED):
            matched[visit.row] = result.patient.pk
        elif not patient.resident_id_hash:
            errors.append(
                _row_error(
                    visit.row,
                    "patient.resident_id",
                    "required",
                    _("No patient matches; a resident ID is needed to register one."),
                )
            )
        elif not patient.name:
            errors.append(_row_error(visit.row, "patient.name", "required", _("The name is needed to register a new patient.")))
        else:
            waiting.append((visit, result))
            to_create.setdefault(
                patient.resident_id_hash,
                {
                    "home_institution_id": institution.pk,
                    "name": patient.name,
                    "name_pinyin": row.name_pinyin,
                    "sex": patient.sex or "U",
                    "birth_date": patient.birth_date,
                    "resident_id": patient.resident_id,
                    "resident_id_hash": patient.resident_id_hash,
                    "insurance_number": patient.insurance_number,
                    "phone": patient.phone,
                    "phone_hash": identifier_hash("phone", patient.phone) if patient.phone else "",
                    "address": patient.address,
                    "village": patient.village,
                },
            )
    ids = bulk.insert_ignore(Patient, list(to_create.values()), key="resident_id_hash")
    reviews = {}
    for visit, result in waiting:
        pk = ids.get(visit.patient.resident_id_hash)
        if pk is None:
            errors.append(
                _row_error(
                    visit.row, "patient.insurance_number", "conflict", _("This insurance number belongs to another patient.")
                )
            )
            continue
        matched[visit.row] = pk
        if result.outcome == Outcome.REVIEW and result.patient is not None:
            reviews[(pk, result.patient.pk)] = MatchReview(
                patient_id=pk, candidate_id=result.patient.pk, score=result.score, source=source
            )
    MatchReview.objects.bulk_create(list(reviews.values()), ignore_conflicts=True)
    return matched, errors, len(ids)


def _row_error(row: int, field_name: str, code: str, message) -> dict:
    return {"row": row, "field": field_name, "code": code, "message": str(message)}
