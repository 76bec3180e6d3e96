"""Inbound batches: receive (stream, shape check, idempotent on the client's batch ID, store) and land them.

The web process spools an upload to a scratch file of its own request, checks it, and puts it in
the platform's storage (``consortium.storage``: an S3-compatible store or ``MEDIA_ROOT``); the
batch keeps the storage name.  The worker that lands it streams the body back from the storage,
so the two need not share a disk.

Landing is chunked and set-based, and safe to run again after a crash: a lease marks the batch
being landed, and visits already present (same institution and external ID) are counted, not
written twice.
"""

import contextlib
import datetime
import gc
import hashlib
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from consortium import bulk, phases, storage
from consortium.errors import Conflict, Invalid, TooLarge
from consortium.models import Department, Institution, OutboxEvent, OutboxEventType
from consortium.permissions import MEMBER_SYSTEM_ROLE, SYSTEM, Action, can, staff_of
from consortium.services import record_audit_event
from records.models import ChargeItem, Diagnosis, Encounter
from records.notices import note_visits_elsewhere
from records.services import match_batch_patients

from . import fhir_inbound, ingest
from .audit import SyncAudit
from .conf import sync_setting
from .enqueue import enqueue_batch, enqueue_dispatch
from .models import InboundBatch, InboundBatchStatus
from .transitions import advance_batch

_BATCH_LEASE = datetime.timedelta(minutes=5)
_MAX_REPORTED_SHAPE_ERRORS = 100


class BatchTooLarge(TooLarge):
    """The body is larger than SYNC_MAX_BATCH_BYTES (413; ``limit_bytes`` in the problem body)."""

    def __init__(self, limit: int):
        super().__init__(
            _("The body is larger than the limit of %(limit)d bytes; split the backlog into several batches.") % {"limit": limit},
            extra={"limit_bytes": limit},
        )
        self.limit = limit


class BatchRejected(Invalid):
    """The upload is not acceptable as a whole; ``errors`` name the row and field of each problem."""

    code = "batch_rejected"

    def __init__(self, errors: list[dict]):
        super().__init__(_("The batch was not accepted; nothing was stored."), errors=errors)


class BatchIdReused(Conflict):
    """The batch ID was uploaded before with a different body (409; the first batch's ``batch`` id in the problem)."""

    code = "batch_id_reused"

    def __init__(self, batch: InboundBatch):
        super().__init__(
            _(
                "Batch ID %(batch_id)s was uploaded before with a different body; nothing was stored. "
                "Give a new batch its own batch ID, or resend the first body unchanged."
            )
            % {"batch_id": batch.client_batch_id},
            field="batch_id",
            extra={"batch": batch.pk, "batch_id": batch.client_batch_id},
        )


def _spool_dir() -> Path:
    """Scratch space of the receiving request only: its files are stored or removed before the answer."""
    path = Path(settings.VAR_DIR) / "sync" / "inbound"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _spool(stream, limit: int) -> tuple[Path, int, str]:
    """Copy the body to a scratch file; returns its path, size and SHA-256 (hex) of the bytes as sent."""
    path = _spool_dir() / f"upload-{uuid.uuid4().hex}.json"
    size = 0
    digest = hashlib.sha256()
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
            digest.update(chunk)
            out.write(chunk)
    return path, size, digest.hexdigest()


def _same_batch(existing: InboundBatch, digest: str) -> InboundBatch:
    """A batch ID seen before: the first batch when the body is the same, else :class:`BatchIdReused`.

    Batches received before bodies were fingerprinted (empty ``body_sha256``) are taken as the same.
    """
    if existing.body_sha256 and existing.body_sha256 != digest:
        raise BatchIdReused(existing)
    return existing


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


def receive_batch(*, actor, stream, content_length: int | None) -> tuple[InboundBatch, bool]:
    """Store an uploaded batch and queue it for landing; returns ``(batch, created)``.

    The body is streamed to a scratch file (never held in memory), checked for shape in one
    streaming pass and streamed on to the storage.  Uploading a batch ID again with the same body
    returns the first batch untouched, also when both uploads arrive at once (the unique constraint
    on institution and batch ID decides, the loser answers with the winner's batch); the same batch
    ID with a different body raises :class:`BatchIdReused`.
    """
    limit = sync_setting("SYNC_MAX_BATCH_BYTES")
    if content_length is not None and content_length > limit:
        raise BatchTooLarge(limit)
    with phases.phase("receive: stream to storage"):
        path, size, digest = _spool(stream, limit)
    stored = ""
    try:
        if fhir_inbound.looks_like_bundle(path):
            with phases.phase("receive: FHIR conversion"):
                path = _convert_bundle(path)
        with phases.phase("receive: parse and shape check"):
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
        existing = InboundBatch.objects.filter(institution=institution, client_batch_id=batch_id).first()
        if existing is not None:
            return _same_batch(existing, digest), False
        # Stored before the transaction, so that no lock is held while the body travels.
        with phases.phase("receive: stream to storage"), path.open("rb") as body:
            stored = storage.save_stream(f"sync/inbound/{institution.pk}/batch-{uuid.uuid4().hex}.json", body)
        try:
            with phases.phase("batch bookkeeping"):
                batch = _create_batch(actor, institution, batch_id, header, stored, size, rows, digest)
        except IntegrityError:
            # A concurrent upload of this batch ID committed first: answer with its batch.
            storage.delete(stored)
            stored = ""
            existing = InboundBatch.objects.filter(institution=institution, client_batch_id=batch_id).first()
            if existing is None:
                raise
            return _same_batch(existing, digest), False
        stored = ""
        return batch, True
    except BaseException:
        storage.delete(stored)
        raise
    finally:
        path.unlink(missing_ok=True)


def _create_batch(actor, institution, batch_id: str, header: dict, stored: str, size: int, rows: int, digest: str):
    with transaction.atomic():
        api_client = getattr(actor, "api_client", None)
        batch = InboundBatch.objects.create(
            institution=institution,
            client_batch_id=batch_id,
            api_client=api_client,
            submitted_by=None if api_client else actor,
            all_or_nothing=header.get("all_or_nothing", False),
            body_path=stored,
            body_bytes=size,
            body_sha256=digest,
            rows_total=rows,
        )
        with phases.phase("audit log"):
            record_audit_event(
                actor=actor,
                action=SyncAudit.BATCH_RECEIVED,
                obj=batch,
                institution=institution,
                detail={"batch_id": batch_id, "rows": rows, "bytes": size},
            )
        transaction.on_commit(lambda: _enqueue_batch(batch.pk), robust=True)
    return batch


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
        advance_batch(batch, InboundBatchStatus.PROCESSING)
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


def land_batch(*, batch_id: int) -> InboundBatch | None:
    """Validate and land a received batch in chunks, set-based; safe to run again after a crash."""
    with phases.phase("batch bookkeeping"):
        batch = _claim_batch(batch_id)
    if batch is None:
        return None
    if not storage.exists(batch.body_path):
        return _batch_finish(batch, None, _("The stored body of this batch is missing; upload it again under a new batch ID."))
    tally = _Tally()
    collecting = gc.isenabled()
    # Tens of thousands of short-lived rows per chunk make the cycle collector walk the whole heap
    # again and again (a quarter of the landing's Python time); none of them forms a cycle.
    gc.disable()
    try:
        if batch.all_or_nothing:
            try:
                with transaction.atomic():
                    _land_chunks(batch, tally)
                    if tally.failed:
                        raise _Rollback
            except _Rollback:
                return _batch_finish(
                    batch,
                    tally,
                    _("%(count)d rows have errors; with all_or_nothing nothing was landed.") % {"count": tally.failed},
                )
        else:
            _land_chunks(batch, tally)
    except ingest.BodyError as exc:
        return _batch_finish(batch, tally, exc.message)
    finally:
        if collecting:
            gc.enable()
    return _batch_finish(batch, tally, "")


def _batch_finish(batch: InboundBatch, tally: "_Tally | None", failure: str) -> InboundBatch:
    with phases.phase("batch bookkeeping"):
        return _finish(batch, tally, failure)


def _finish(batch: InboundBatch, tally: "_Tally | None", failure: str) -> InboundBatch:
    with transaction.atomic():
        batch = InboundBatch.objects.select_for_update().get(pk=batch.pk)
        target = InboundBatchStatus.FAILED if failure else InboundBatchStatus.LANDED
        advance_batch(batch, target)
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
        with phases.phase("audit log"):
            record_audit_event(
                actor=None,
                action=SyncAudit(f"sync.batch_{target}"),
                obj=batch,
                institution=batch.institution,
                detail={"landed": batch.rows_landed, "failed": batch.rows_failed, "already_present": batch.rows_already_present},
            )
    storage.delete(batch.body_path)
    return batch


def _land_chunks(batch: InboundBatch, tally: _Tally) -> None:
    chunks = _ReadAhead(batch)
    for kind, value in chunks:
        if kind == "errors":
            tally.fail(value)
        else:
            _land_chunk(batch, value, tally, written=chunks.go_ahead)


def _validated(batch: InboundBatch, departments: dict[str, int], size: int):
    """``("errors", row errors)`` per refused row and ``("chunk", clean visits)`` per chunk, in the body's order."""
    seen: set[str] = set()
    chunk: list[ingest.CleanVisit] = []
    timing = phases.active()
    horizon = ingest.future_horizon()
    with storage.open_stream(batch.body_path) as body:
        visits = phases.timed(ingest.iter_visits(body), "parse") if timing else ingest.iter_visits(body)
        for row, data in visits:
            # The shape was checked when the body was received; this file is the platform's own copy.
            if timing:
                started, started_cpu = time.perf_counter(), time.thread_time()
            visit, errors = ingest.clean_visit(row, data, departments=departments, seen_ids=seen, horizon=horizon)
            if timing:
                phases.add("content validation", time.perf_counter() - started, time.thread_time() - started_cpu)
            if errors:
                if "_entry" in data:
                    for error in errors:
                        error["entry"] = data["_entry"]
                yield "errors", errors
                continue
            chunk.append(visit)
            if len(chunk) >= size:
                yield "chunk", chunk
                chunk = []
                horizon = ingest.future_horizon()
    if chunk:
        yield "chunk", chunk


_DONE = object()


class _ReadAhead:
    """:func:`_validated`, run in a thread of its own one chunk ahead of the landing.

    Parsing and validating are pure Python with no database access; the landing mostly waits on
    the database (COPY, INSERT, the commit's foreign key checks), so the next chunk is made ready
    meanwhile.  Items come in the body's order; an exception of the reader (a malformed body) is
    raised here, after the items before it, as it would be without the thread.  The reader uses
    the landing's language for its messages.

    The reader starts on the next chunk when the landing says so (:meth:`go_ahead`: once the
    chunk is written, before its commit; at the latest when it asks for the next item).  Two
    threads of Python only take turns on the GIL, each turn costing the landing a thread switch
    (1.4 s of a 100,000-visit landing when the reader ran at will); the commit, its foreign key
    checks, is the landing's longest wait on the database, when the reader has the GIL to itself.
    """

    def __init__(self, batch: InboundBatch):
        self.batch = batch
        self._permits = threading.Semaphore(0)
        self._owed = False  # a chunk was handed over and the reader has not been let go on yet

    def go_ahead(self) -> None:
        """Let the reader start on the next chunk (once per chunk handed over; the landing's thread only)."""
        if self._owed:
            self._owed = False
            self._permits.release()

    def __iter__(self):
        batch = self.batch
        departments = dict(Department.objects.filter(institution=batch.institution).values_list("code", "pk"))
        size = sync_setting("SYNC_INGEST_CHUNK")
        language = translation.get_language()
        timing = phases.active()
        items: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    items.put(item, timeout=0.1)
                except queue.Full:
                    continue
                return True
            return False

        def let_go() -> bool:
            while not stop.is_set():
                if self._permits.acquire(timeout=0.1):
                    return True
            return False

        reader_spent = phases.Spent()

        def read() -> None:
            with (
                phases.recording() if timing else contextlib.nullcontext(phases.Spent()) as spent,
                translation.override(language),
            ):
                try:
                    for item in _validated(batch, departments, size):
                        if not put(item) or item[0] == "chunk" and not let_go():
                            return
                except BaseException as exc:  # noqa: BLE001 - handed to the landing thread, raised there
                    put(("raise", exc))
                    return
                finally:
                    reader_spent.update(spent)
                    reader_spent.cpu.update(spent.cpu)
            put(_DONE)

        reader = threading.Thread(target=read, name=f"batch-{batch.pk}-reader", daemon=True)
        reader.start()
        try:
            while True:
                self.go_ahead()
                with phases.phase("waiting for the reader thread"):
                    item = items.get()
                if item is _DONE:
                    return
                if item[0] == "raise":
                    raise item[1]
                self._owed = item[0] == "chunk"
                yield item
        finally:
            stop.set()
            reader.join()
            if timing:
                phases.merge(reader_spent, prefix="reader thread: ")


def _land_chunk(batch: InboundBatch, visits: list, tally: _Tally, *, written=lambda: None) -> None:
    """Land one chunk of clean visits in a transaction; ``written()`` is called once all is written, before the commit."""
    with phases.phase("commit"), transaction.atomic(), _without_parallel_workers():
        with phases.phase("batch bookkeeping"):
            InboundBatch.objects.filter(pk=batch.pk).update(lease_until=timezone.now() + _BATCH_LEASE)
        with phases.phase("MPI matching"):
            patient_ids, errors, created = _match_patients(
                batch.institution, visits, source=f"inbound batch {batch.client_batch_id}"
            )
        tally.patients_created += created
        if errors:
            tally.fail(errors)
            visits = [visit for visit in visits if visit.row in patient_ids]
        with phases.phase("shaping rows"):
            external_ids = [visit.external_id for visit in visits]
        present: set[str] = set()
        if connection.vendor != "postgresql":  # PostgreSQL's ON CONFLICT DO NOTHING skips them itself
            with phases.phase("visits already present"):
                present = set(
                    Encounter.objects.filter(institution=batch.institution, external_id__in=external_ids).values_list(
                        "external_id", flat=True
                    )
                )
        with phases.phase("shaping rows"):
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
        with phases.phase("shaping rows"):
            diagnoses, charges, events = [], [], []
            payload = {"source": "inbound_batch", "batch": batch.pk}  # one object: serialised once for the chunk
            institution_id = batch.institution_id
            for visit in fresh:
                encounter_id = inserted.get(visit.external_id)
                if encounter_id is None:
                    continue
                diagnoses += [(encounter_id, *diagnosis) for diagnosis in visit.diagnoses]
                charges += [(encounter_id, *item) for item in visit.charge_items]
                events.append(
                    (
                        OutboxEventType.ENCOUNTER,
                        "records.encounter",
                        str(encounter_id),
                        patient_ids[visit.row],
                        institution_id,
                        payload,
                        now,
                    )
                )
        bulk.copy_rows(Diagnosis, ["encounter_id", "code", "description", "is_primary"], diagnoses)
        bulk.copy_rows(ChargeItem, ["encounter_id", *ingest.CHARGE_COLUMNS], charges)
        bulk.copy_rows(
            OutboxEvent,
            ["event_type", "aggregate_type", "aggregate_id", "patient_id", "institution_id", "payload", "created_at"],
            events,
        )
        with phases.phase("notices to home clinics"):
            note_visits_elsewhere(
                (patient_ids[visit.row], batch.institution_id) for visit in fresh if visit.external_id in inserted
            )
        tally.landed += len(inserted)
        if events:
            transaction.on_commit(_enqueue_dispatch, robust=True)
        written()


@contextlib.contextmanager
def _without_parallel_workers():
    """No parallel workers while a chunk lands (PostgreSQL; local to the transaction, so PgBouncer-safe,
    and put back at the end for a caller's enclosing transaction).

    A landing's reads are index probes (candidates, known resident IDs) and its writes COPYs; on a
    small index the planner hashed the whole of it with two parallel workers per candidate read,
    workers that took the cores the landing's own Python and the other landings needed (0.25 s of a
    100,000-visit landing)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('max_parallel_workers_per_gather', '0', true)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather TO DEFAULT")


def _enqueue_dispatch() -> None:
    enqueue_dispatch()


def _match_patients(institution: Institution, visits: list, *, source: str) -> tuple[dict[int, int], list[dict], int]:
    """The records service matches (or registers) the chunk's patients; its errors get the batch's ``patient.`` prefix."""
    patients = [(visit.row, visit.patient) for visit in visits]
    found = match_batch_patients(actor=SYSTEM, institution=institution, patients=patients, source=source)
    errors = [{**error, "field": f"patient.{error['field']}"} for error in found.errors]
    return found.patient_ids, errors, found.created
