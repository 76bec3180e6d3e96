"""Writes of diagnostic orders and their reports: one function per transition of
:data:`diagnostics.transitions.ORDER_TRANSITIONS` and :data:`SAMPLE_TRANSITIONS`.

Each function locks the row (``select_for_update``), looks the move up in the table, checks the
actor's side through :mod:`consortium.permissions` (and, for reading, that the actor is a qualified
reader of the centre), validates, writes, and records the step, an audit event and an outbox event
in one transaction; notifications are rows in it and go out on commit.  Claiming is atomic: the
row lock makes the second of two claims see a claimed order and fail, and :func:`claim_next` skips
rows another reader holds (``skip_locked``).
"""

import datetime
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from consortium.errors import Conflict, IllegalTransition, Invalid, NotPermitted
from consortium.models import OutboxEventType
from consortium.permissions import SYSTEM, Action, can, require, staff_of
from records.models import ChargeItem, Encounter

from . import critical, events, recognition
from .attachments import MAX_FILES, inspect_attachment
from .models import (
    IMAGING_MODALITIES,
    OPEN_STATUSES,
    Analyte,
    CentreService,
    Interpretation,
    Modality,
    Order,
    OrderAttachment,
    OrderStatus,
    ReportObservation,
    ReportVersion,
    Sample,
    SampleStatus,
    Urgency,
)
from .transitions import ACTION_LABELS, ORDER_TRANSITIONS, SAMPLE_TRANSITIONS, Act, SampleAct, Side

SAMPLE_MODALITIES = frozenset({Modality.LAB, Modality.PATH})
ATTACHABLE = frozenset({OrderStatus.REQUESTED, OrderStatus.SCHEDULED, OrderStatus.RECEIVED})


# --- who may take a step ---------------------------------------------------------------------------


def reader_for(actor, centre, modality: str):
    """The actor's active reader row at ``centre`` if qualified for ``modality``, else None."""
    staff = staff_of(actor)
    if staff is None:
        return None
    reader = centre.readers.filter(staff=staff, is_active=True).first()
    return reader if reader is not None and reader.reads(modality) else None


def check_side(actor, order: Order, side: Side) -> None:
    if side == Side.SYSTEM:
        if actor is not SYSTEM:
            raise NotPermitted(_("Only the platform takes this step."))
        return
    if side == Side.CLINIC:
        require(actor, Action.ORDER_DIAGNOSTICS, order.ordering_institution_id)
        return
    if side == Side.CENTRE:
        require(actor, Action.RUN_DIAGNOSTIC_CENTRE, order.centre.institution_id)
        return
    require(actor, Action.READ_DIAGNOSTICS, order.centre.institution_id)
    if reader_for(actor, order.centre, order.modality) is None:
        raise NotPermitted(
            _("You are not a qualified %(modality)s reader of %(centre)s.")
            % {"modality": Modality(order.modality).label, "centre": order.centre.name}
        )


def may_take(actor, order: Order, act: Act) -> bool:
    """Whether the table allows ``act`` now and the actor stands on its side (for showing buttons)."""
    transition = ORDER_TRANSITIONS.get((order.status, act))
    if transition is None or transition.side == Side.SYSTEM:
        return False
    try:
        check_side(actor, order, transition.side)
    except NotPermitted:
        return False
    if act in {Act.RELEASE, Act.SIGN, Act.SUBMIT_FOR_REVIEW} or (act == Act.REJECT and order.status == OrderStatus.CLAIMED):
        return order.claimed_by_id == getattr(actor, "pk", None)
    if act == Act.SIGN:
        return not order.service.requires_second_reader
    return True


# --- the transition --------------------------------------------------------------------------------


def _illegal(order: Order, act) -> IllegalTransition:
    if act == Act.CLAIM and order.status == OrderStatus.CLAIMED:
        return IllegalTransition(
            _("Order %(accession)s is already being read by another reader.") % {"accession": order.accession},
            code="already_claimed",
        )
    return IllegalTransition(
        _("An order that is “%(status)s” cannot be taken through “%(action)s”.")
        % {"status": order.get_status_display(), "action": ACTION_LABELS[act]}
    )


def _transition(
    order_id: int,
    act: Act,
    *,
    actor,
    note: str = "",
    now: datetime.datetime | None = None,
    apply: Callable[[Order], None] | None = None,
    after: Callable[[Order], None] | None = None,
    event_type: str = OutboxEventType.DIAGNOSTIC_ORDER,
) -> Order:
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        transition = ORDER_TRANSITIONS.get((order.status, act))
        if transition is None:
            raise _illegal(order, act)
        check_side(actor, order, transition.side)
        source = order.status
        if apply is not None:
            apply(order)
        order.status = transition.target
        order.save()
        _record(order, actor=actor, source=source, action=act, note=note, now=now, event_type=event_type)
        if after is not None:
            after(order)
    return order


def _record(order: Order, *, actor, source: str, action: str, note: str, now, event_type: str = OutboxEventType.DIAGNOSTIC_ORDER):
    events.step(actor=actor, action=action, source=source, target=order.status, now=now, note=note, order=order)
    events.audit(
        actor=actor,
        action=f"order.{action}",
        obj=order,
        institution=order.centre.institution if action not in {"create", Act.SEND, Act.CANCEL} else order.ordering_institution,
        detail={"from_status": source, "to_status": order.status},
    )
    events.outbox(
        event_type=event_type,
        obj=order,
        patient_id=order.patient_id,
        institution=order.ordering_institution,
        payload=events.order_payload(order),
    )


def _link(order: Order) -> str:
    return reverse("diagnostics:order-detail", args=[order.pk])


def _required(text: str, field: str, message: str) -> str:
    text = (text or "").strip()
    if not text:
        raise Invalid(message, field=field)
    return text


# --- ordering --------------------------------------------------------------------------------------


def _check_orderable(actor, encounter: Encounter, service: CentreService) -> None:
    staff = staff_of(actor)
    if staff is None or staff.institution_id != encounter.institution_id:
        raise NotPermitted(_("You can order only from a visit at your own institution."))
    require(actor, Action.ORDER_DIAGNOSTICS, encounter.institution_id)
    centre = service.centre
    if not (service.is_active and centre.is_active):
        raise Invalid(_("This service is not offered now."), field="service")
    if not centre.served_institutions.filter(pk=encounter.institution_id).exists():
        raise Invalid(_("%(centre)s does not serve your institution.") % {"centre": centre.name}, field="service")


def create_order(
    *,
    actor,
    encounter: Encounter,
    service: CentreService,
    urgency: str,
    reason: str,
    clinical_question: str = "",
    body_site: str = "",
    specimen: str = "",
    attachments: Iterable = (),
    barcodes: Iterable[str] = (),
    repeat_reason: str = "",
    send: bool = True,
    external_id: str = "",
    now: datetime.datetime | None = None,
) -> Order:
    """Order ``service`` from the visit; attach files or label samples; send when the material is there.

    A recognised prior result within its window must be used (:func:`recognition.use_prior_result`)
    or overridden with ``repeat_reason``; the decision is recorded with the order.
    """
    now = now or timezone.now()
    _check_orderable(actor, encounter, service)
    if urgency not in Urgency.values:
        raise Invalid(_("Choose a valid urgency."), field="urgency")
    reason = _required(reason, "reason", _("Give the reason for the order."))
    files = list(attachments)
    codes = [code.strip() for code in barcodes if code and code.strip()]
    if len(files) > MAX_FILES:
        raise Invalid(_("At most %(count)d files per order.") % {"count": MAX_FILES}, field="attachments")
    if codes and service.modality not in SAMPLE_MODALITIES:
        raise Invalid(_("Only laboratory and pathology orders take samples."), field="barcodes")
    if len(set(codes)) != len(codes):
        raise Invalid(_("A barcode is given twice."), field="barcodes")
    taken = Sample.objects.filter(barcode__in=codes).values_list("barcode", flat=True).first()
    if taken:
        raise Invalid(_("Barcode %(barcode)s is already on another sample.") % {"barcode": taken}, field="barcodes")
    priors = recognition.prior_results(encounter.patient, service, encounter.institution, now=now)
    with transaction.atomic():
        order = Order.objects.create(
            accession=f"tmp-{now.timestamp()}-{actor.pk}",
            patient=encounter.patient,
            encounter=encounter,
            ordering_institution=encounter.institution,
            centre=service.centre,
            service=service,
            modality=service.modality,
            urgency=urgency,
            reason=reason,
            clinical_question=(clinical_question or "").strip(),
            body_site=(body_site or service.body_site).strip(),
            specimen=(specimen or service.specimen).strip(),
            requested_at=now,
            due_at=now + datetime.timedelta(hours=service.turnaround_hours(urgency)),
            created_by=actor if not hasattr(actor, "api_client") else None,
            external_id=external_id,
        )
        order.accession = f"{service.centre.code}-{order.pk:07d}"
        order.save(update_fields=["accession"])
        if priors:
            recognition.record_repeat(order, priors[0], repeat_reason=repeat_reason, actor=actor, now=now)
        for upload in files:
            _store_attachment(order, upload, actor)
        for code in codes:
            Sample.objects.create(order=order, barcode=code, specimen=order.specimen or service.name, collected_at=now)
        _record(order, actor=actor, source="", action="create", note="", now=now)
        events.notify(
            events.centre_users(order.centre),
            lambda: (
                _("New %(urgency)s order %(accession)s: %(service)s from %(clinic)s.")
                % {
                    "urgency": order.get_urgency_display(),
                    "accession": order.accession,
                    "service": service.name,
                    "clinic": order.ordering_institution.name,
                }
            ),
            link=_link(order),
        )
        if send and files:
            order = send_order(order.pk, actor=actor, now=now)
        elif send and codes:
            for sample in order.samples.all():
                send_sample(sample.pk, actor=actor, now=now)
    return order


def _store_attachment(order: Order, upload, actor) -> OrderAttachment:
    facts = inspect_attachment(upload, order)
    if order.attachments.filter(sha256=facts["sha256"]).exists():
        raise Conflict(_("%(name)s is already attached to this order.") % {"name": facts["original_name"]}, field="file")
    attachment = OrderAttachment(order=order, uploaded_by=actor if not hasattr(actor, "api_client") else None, **facts)
    attachment.file.save(facts["original_name"], upload, save=False)
    attachment.save()
    return attachment


def add_attachment(order_id: int, *, actor, upload, now: datetime.datetime | None = None) -> OrderAttachment:
    """Attach one more device file to an order the centre has not started reading."""
    now = now or timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        require(actor, Action.ORDER_DIAGNOSTICS, order.ordering_institution_id)
        if order.status not in ATTACHABLE:
            raise IllegalTransition(_("Files can be added only before the reading starts."))
        if order.attachments.count() >= MAX_FILES:
            raise Invalid(_("At most %(count)d files per order.") % {"count": MAX_FILES}, field="file")
        attachment = _store_attachment(order, upload, actor)
        events.step(
            actor=actor, action="attach", source=order.status, target=order.status, now=now, order=order, note=attachment.kind
        )
        events.audit(
            actor=actor,
            action="order.attachment_added",
            obj=order,
            institution=order.ordering_institution,
            detail={"attachment": attachment.pk, "kind": attachment.kind, "sha256": attachment.sha256},
        )
    return attachment


def send_order(order_id: int, *, actor, now: datetime.datetime | None = None) -> Order:
    """The clinic sends the captured study to the centre's worklist."""
    now = now or timezone.now()

    def apply(order: Order) -> None:
        if order.modality in SAMPLE_MODALITIES:
            raise Invalid(_("Samples are sent by barcode; the centre receives them."), field="samples")
        if not order.attachments.exists():
            raise Invalid(_("Attach the study's files before sending."), field="file")
        order.received_at = now

    return _transition(order_id, Act.SEND, actor=actor, now=now, apply=apply)


def schedule_order(order_id: int, *, actor, scheduled_at: datetime.datetime, now: datetime.datetime | None = None) -> Order:
    """The centre books the patient for a study done at the centre."""
    now = now or timezone.now()

    def apply(order: Order) -> None:
        if scheduled_at is None or scheduled_at < now - datetime.timedelta(minutes=5):
            raise Invalid(_("Choose a time in the future."), field="scheduled_at")
        order.scheduled_at = scheduled_at

    return _transition(order_id, Act.SCHEDULE, actor=actor, now=now, apply=apply)


def receive_order(order_id: int, *, actor, now: datetime.datetime | None = None) -> Order:
    """The centre has the material (the patient attended, the samples arrived): onto the worklist."""
    now = now or timezone.now()

    def apply(order: Order) -> None:
        if order.samples.exclude(status=SampleStatus.RECEIVED).exclude(status=SampleStatus.REJECTED).exists():
            raise Invalid(_("Some samples of this order have not arrived yet."), field="samples")
        order.received_at = now

    return _transition(order_id, Act.RECEIVE, actor=actor, now=now, apply=apply)


def reject_order(order_id: int, *, actor, reason: str, now: datetime.datetime | None = None) -> Order:
    """The centre cannot read the order (unreadable images, wrong service); the clinic is told why."""
    now = now or timezone.now()
    reason = _required(reason, "reason", _("Give the reason for rejecting the order."))

    def apply(order: Order) -> None:
        if order.status == OrderStatus.CLAIMED and order.claimed_by_id != actor.pk:
            raise NotPermitted(_("Only the reader who claimed the study may reject it."))
        order.rejection_reason = reason

    def after(order: Order) -> None:
        events.notify(
            events.clinic_users(order),
            lambda: (
                _("Order %(accession)s was rejected by %(centre)s: %(reason)s")
                % {"accession": order.accession, "centre": order.centre.name, "reason": reason}
            ),
            link=_link(order),
        )

    return _transition(order_id, Act.REJECT, actor=actor, note=reason, now=now, apply=apply, after=after)


def cancel_order(order_id: int, *, actor, reason: str, now: datetime.datetime | None = None) -> Order:
    """The clinic withdraws an order the centre has not started reading."""
    reason = _required(reason, "reason", _("Give the reason for cancelling the order."))
    return _transition(order_id, Act.CANCEL, actor=actor, note=reason, now=now)


# --- reading ---------------------------------------------------------------------------------------


def claim_order(order_id: int, *, actor, now: datetime.datetime | None = None) -> Order:
    """Take a study off the worklist; of two readers claiming at once exactly one succeeds."""
    now = now or timezone.now()

    def apply(order: Order) -> None:
        order.claimed_by = actor
        order.claimed_at = now

    return _transition(order_id, Act.CLAIM, actor=actor, now=now, apply=apply)


def claim_next(centre_id: int, *, actor, modality: str = "", now: datetime.datetime | None = None) -> Order | None:
    """Claim the most urgent unclaimed study of the centre the actor may read, skipping rows others hold."""
    now = now or timezone.now()
    with transaction.atomic():
        candidates = Order.objects.filter(centre_id=centre_id, status=OrderStatus.RECEIVED)
        if modality:
            candidates = candidates.filter(modality=modality)
        order = candidates.order_by("urgency_rank", "due_at", "pk").select_for_update(skip_locked=True).first()
        if order is None:
            return None
        return claim_order(order.pk, actor=actor, now=now)


def release_order(order_id: int, *, actor, now: datetime.datetime | None = None) -> Order:
    """Give a claimed study back to the worklist."""

    def apply(order: Order) -> None:
        if order.claimed_by_id != actor.pk:
            raise NotPermitted(_("Only the reader who claimed the study may release it."))
        order.claimed_by = None
        order.claimed_at = None

    return _transition(order_id, Act.RELEASE, actor=actor, now=now, apply=apply)


def _decimal(value, field: str) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise Invalid(_("%(field)s: enter a number.") % {"field": field}, field=field) from None
    if not number.is_finite():
        raise Invalid(_("%(field)s: enter a number.") % {"field": field}, field=field)
    return number


def _interpretation(value: Decimal, analyte: Analyte | None, low, high) -> str:
    if analyte is not None:
        if analyte.critical_low is not None and value <= analyte.critical_low:
            return Interpretation.CRITICAL_LOW
        if analyte.critical_high is not None and value >= analyte.critical_high:
            return Interpretation.CRITICAL_HIGH
    if low is not None and value < low:
        return Interpretation.LOW
    if high is not None and value > high:
        return Interpretation.HIGH
    return Interpretation.NORMAL


def _clean_observations(order: Order, rows: Iterable[dict]) -> list[dict]:
    """Lab values with their analyte's unit and range; a code the service does not report is refused."""
    analytes = {a.code: a for a in order.service.analytes.all()}
    cleaned = []
    for index, row in enumerate(rows, start=1):
        code = str(row.get("code", "")).strip()
        if not code and str(row.get("value", "")).strip() == "":
            continue
        field = f"observations[{index}]"
        analyte = analytes.get(code)
        if analyte is None and not row.get("name"):
            raise Invalid(
                _("Row %(row)d: %(code)s is not a value this service reports.") % {"row": index, "code": code or "?"}, field=field
            )
        value = _decimal(row.get("value", ""), field)
        low = analyte.reference_low if analyte else (row.get("reference_low") and _decimal(row["reference_low"], field))
        high = analyte.reference_high if analyte else (row.get("reference_high") and _decimal(row["reference_high"], field))
        cleaned.append(
            {
                "code": code,
                "name": analyte.name if analyte else str(row["name"])[:100],
                "value": value,
                "unit": analyte.unit if analyte else str(row.get("unit", ""))[:32],
                "reference_low": low if low != "" else None,
                "reference_high": high if high != "" else None,
                "interpretation": _interpretation(value, analyte, low or None, high or None),
            }
        )
    return cleaned


def _write_version(
    order: Order, *, actor, findings: str, impression: str, result_code: str, result_display: str, observations, now
):
    """The unsigned version being written, or a fresh one; its observations are replaced."""
    version = order.report_versions.filter(signed_at__isnull=True).order_by("-number").first()
    if version is None:
        latest = order.report_versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = ReportVersion(order=order, number=latest + 1)
    version.findings = findings
    version.impression = impression
    version.result_code = (result_code or "").strip()[:32]
    version.result_display = (result_display or "").strip()[:200]
    version.author = actor
    version.written_at = now
    version.save()
    version.observations.all().delete()
    created = ReportObservation.objects.bulk_create([ReportObservation(version=version, **row) for row in observations])
    return version, created


def _charge_reading_fee(order: Order) -> None:
    """The reading fee becomes a charge item of the ordering visit, once, so it flows into the claim."""
    if order.charge_item_id:
        return
    service = order.service
    amount = (service.fee_amount * Decimal("1")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    order.charge_item = ChargeItem.objects.create(
        encounter=order.encounter,
        item_code=service.fee_item_code,
        name=service.fee_name,
        category=service.fee_category,
        catalogue_class=service.fee_catalogue_class,
        quantity=Decimal("1.00"),
        unit_price=service.fee_amount,
        amount=amount,
    )


def _report_back(order: Order, version: ReportVersion, *, amended: bool) -> None:
    events.notify(
        events.clinic_users(order),
        (
            lambda: (
                _("The report of %(accession)s (%(service)s) was amended.")
                % {"accession": order.accession, "service": order.service.name}
            )
        )
        if amended
        else (
            lambda: (
                _("The report of %(accession)s (%(service)s) is ready.")
                % {"accession": order.accession, "service": order.service.name}
            )
        ),
        link=_link(order),
    )


def sign_report(
    order_id: int,
    *,
    actor,
    impression: str,
    findings: str = "",
    result_code: str = "",
    result_display: str = "",
    observations: Iterable[dict] = (),
    critical_description: str = "",
    now: datetime.datetime | None = None,
) -> Order:
    """Write and sign the report of a study the actor claimed.

    A service that needs a second reader goes to ``preliminary`` instead of ``final``.  A lab value
    at or beyond its analyte's critical limit, or a ``critical_description`` the reader gives, raises a
    critical value at once (it does not wait for the review).
    """
    now = now or timezone.now()
    impression = _required(impression, "impression", _("Write the impression (conclusion) of the report."))
    order = Order.objects.select_related("service").get(pk=order_id)
    act = Act.SUBMIT_FOR_REVIEW if order.service.requires_second_reader else Act.SIGN
    rows = _clean_observations(order, observations)
    written = {}

    def apply(order: Order) -> None:
        if order.claimed_by_id != actor.pk:
            raise NotPermitted(_("Only the reader who claimed the study may sign its report."))
        version, created = _write_version(
            order,
            actor=actor,
            findings=(findings or "").strip(),
            impression=impression,
            result_code=result_code,
            result_display=result_display,
            observations=rows,
            now=now,
        )
        if act == Act.SIGN:
            version.signed_at = now
            version.save(update_fields=["signed_at"])
            order.reported_at = now
            _charge_reading_fee(order)
        written.update(version=version, observations=created)

    def after(order: Order) -> None:
        version = written["version"]
        if act == Act.SIGN:
            _report_back(order, version, amended=False)
        else:
            events.notify(
                [r for r in events.centre_users(order.centre) if r.pk != actor.pk],
                lambda: _("Order %(accession)s awaits a second reading.") % {"accession": order.accession},
                link=_link(order),
            )
        critical.raise_from_report(order, written["observations"], critical_description, actor=actor, now=now)

    event_type = OutboxEventType.DIAGNOSTIC_REPORT if act == Act.SIGN else OutboxEventType.DIAGNOSTIC_ORDER
    return _transition(order_id, act, actor=actor, now=now, apply=apply, after=after, event_type=event_type)


def review_report(order_id: int, *, actor, now: datetime.datetime | None = None) -> Order:
    """A second reader (not the author) signs the preliminary report off: it becomes final."""
    now = now or timezone.now()
    holder = {}

    def apply(order: Order) -> None:
        version = order.report_versions.filter(signed_at__isnull=True).order_by("-number").first()
        if version is None or version.author_id == actor.pk:
            raise NotPermitted(_("The second reading must be by another reader."))
        version.reviewed_by = actor
        version.reviewed_at = now
        version.signed_at = now
        version.save(update_fields=["reviewed_by", "reviewed_at", "signed_at"])
        order.reported_at = now
        _charge_reading_fee(order)
        holder["version"] = version

    def after(order: Order) -> None:
        _report_back(order, holder["version"], amended=False)

    return _transition(
        order_id, Act.REVIEW, actor=actor, now=now, apply=apply, after=after, event_type=OutboxEventType.DIAGNOSTIC_REPORT
    )


def return_report(order_id: int, *, actor, reason: str, now: datetime.datetime | None = None) -> Order:
    """The second reader sends the preliminary report back to its author with a reason."""
    reason = _required(reason, "reason", _("Say what the first reader should change."))

    def apply(order: Order) -> None:
        version = order.report_versions.filter(signed_at__isnull=True).order_by("-number").first()
        if version is None or version.author_id == actor.pk:
            raise NotPermitted(_("The second reading must be by another reader."))

    return _transition(order_id, Act.RETURN, actor=actor, note=reason, now=now, apply=apply)


def amend_report(
    order_id: int,
    *,
    actor,
    reason: str,
    impression: str,
    findings: str = "",
    result_code: str = "",
    result_display: str = "",
    observations: Iterable[dict] = (),
    critical_description: str = "",
    now: datetime.datetime | None = None,
) -> Order:
    """Issue a new signed version of a final report, with the reason; earlier versions stay as they were."""
    now = now or timezone.now()
    reason = _required(reason, "reason", _("Give the reason for the amendment."))
    impression = _required(impression, "impression", _("Write the impression (conclusion) of the report."))
    order = Order.objects.select_related("service").get(pk=order_id)
    rows = _clean_observations(order, observations)
    written = {}

    def apply(order: Order) -> None:
        version, created = _write_version(
            order,
            actor=actor,
            findings=(findings or "").strip(),
            impression=impression,
            result_code=result_code,
            result_display=result_display,
            observations=rows,
            now=now,
        )
        version.amendment_reason = reason
        version.signed_at = now
        version.save(update_fields=["amendment_reason", "signed_at"])
        order.reported_at = now
        written.update(version=version, observations=created)

    def after(order: Order) -> None:
        _report_back(order, written["version"], amended=True)
        critical.raise_from_report(order, written["observations"], critical_description, actor=actor, now=now)

    return _transition(
        order_id,
        Act.AMEND,
        actor=actor,
        note=reason,
        now=now,
        apply=apply,
        after=after,
        event_type=OutboxEventType.DIAGNOSTIC_REPORT,
    )


# --- samples ---------------------------------------------------------------------------------------


def _sample_transition(sample_id: int, act: SampleAct, *, actor, note: str = "", now=None, apply=None) -> Sample:
    now = now or timezone.now()
    with transaction.atomic():
        sample = Sample.objects.select_for_update().get(pk=sample_id)
        order = sample.order
        transition = SAMPLE_TRANSITIONS.get((sample.status, act))
        if transition is None:
            raise IllegalTransition(
                _("A sample that is “%(status)s” cannot be taken through “%(action)s”.")
                % {"status": sample.get_status_display(), "action": ACTION_LABELS[act]}
            )
        check_side(actor, order, transition.side)
        source = sample.status
        if apply is not None:
            apply(sample)
        sample.status = transition.target
        sample.save()
        events.step(
            actor=actor,
            action=f"sample.{act}",
            source=source,
            target=sample.status,
            now=now,
            note=note,
            order=order,
            sample=sample,
        )
        events.audit(
            actor=actor,
            action=f"sample.{act}",
            obj=sample,
            institution=order.centre.institution if transition.side == Side.CENTRE else order.ordering_institution,
            detail={"from_status": source, "to_status": sample.status, "order": order.pk},
        )
        events.outbox(
            event_type=OutboxEventType.DIAGNOSTIC_ORDER,
            obj=order,
            patient_id=order.patient_id,
            institution=order.ordering_institution,
            payload={**events.order_payload(order), "sample": sample.barcode, "sample_status": sample.status},
        )
    return sample


def send_sample(sample_id: int, *, actor, now=None) -> Sample:
    now = now or timezone.now()

    def apply(sample: Sample) -> None:
        sample.sent_at = now

    return _sample_transition(sample_id, SampleAct.SEND, actor=actor, now=now, apply=apply)


def receive_sample(*, actor, centre, barcode: str, now=None) -> Sample:
    """The centre scans a sample in; when the order's last sample arrives, the order goes on the worklist."""
    now = now or timezone.now()
    code = (barcode or "").strip()
    sample = Sample.objects.filter(barcode=code, order__centre=centre).first()
    if sample is None or not can(actor, Action.RUN_DIAGNOSTIC_CENTRE, centre.institution_id):
        raise Invalid(
            _("No sample with barcode %(barcode)s is on its way to this centre.") % {"barcode": code or "?"}, field="barcode"
        )

    def apply(sample: Sample) -> None:
        sample.received_at = now

    with transaction.atomic():
        sample = _sample_transition(sample.pk, SampleAct.RECEIVE, actor=actor, now=now, apply=apply)
        order = sample.order
        pending = order.samples.exclude(status__in=[SampleStatus.RECEIVED, SampleStatus.REJECTED]).exists()
        if (
            order.status in {OrderStatus.REQUESTED, OrderStatus.SCHEDULED}
            and not pending
            and order.samples.filter(status=SampleStatus.RECEIVED).exists()
        ):
            receive_order(order.pk, actor=actor, now=now)
    return sample


def reject_sample(sample_id: int, *, actor, reason: str, now=None) -> Sample:
    """Refuse a sample (haemolysed, unlabelled, too late) with the reason; the clinic must take a new one."""
    now = now or timezone.now()
    reason = _required(reason, "reason", _("Give the reason for rejecting the sample."))

    def apply(sample: Sample) -> None:
        sample.rejection_reason = reason[:200]

    with transaction.atomic():
        sample = _sample_transition(sample_id, SampleAct.REJECT, actor=actor, note=reason, now=now, apply=apply)
        order = sample.order
        events.notify(
            events.clinic_users(order),
            lambda: (
                _("Sample %(barcode)s of order %(accession)s was rejected: %(reason)s")
                % {"barcode": sample.barcode, "accession": order.accession, "reason": reason}
            ),
            link=_link(order),
        )
    return sample


def add_sample(order_id: int, *, actor, barcode: str, now=None) -> Sample:
    """Label one more sample for an open lab order (a replacement for a rejected one)."""
    now = now or timezone.now()
    code = _required(barcode, "barcode", _("Scan or type the barcode."))
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        require(actor, Action.ORDER_DIAGNOSTICS, order.ordering_institution_id)
        if order.modality not in SAMPLE_MODALITIES:
            raise Invalid(_("Only laboratory and pathology orders take samples."), field="barcode")
        if order.status not in {OrderStatus.REQUESTED, OrderStatus.SCHEDULED}:
            raise IllegalTransition(_("Samples can be added only before the centre starts."))
        if Sample.objects.filter(barcode=code).exists():
            raise Invalid(_("Barcode %(barcode)s is already on another sample.") % {"barcode": code}, field="barcode")
        sample = Sample.objects.create(order=order, barcode=code, specimen=order.specimen or order.service.name, collected_at=now)
        events.step(actor=actor, action="sample.collect", source="", target=sample.status, now=now, order=order, sample=sample)
        events.audit(
            actor=actor, action="sample.collect", obj=sample, institution=order.ordering_institution, detail={"order": order.pk}
        )
    return sample


__all__ = [
    "IMAGING_MODALITIES",
    "OPEN_STATUSES",
    "add_attachment",
    "add_sample",
    "amend_report",
    "cancel_order",
    "claim_next",
    "claim_order",
    "create_order",
    "may_take",
    "receive_order",
    "receive_sample",
    "reject_order",
    "reject_sample",
    "release_order",
    "return_report",
    "review_report",
    "schedule_order",
    "send_order",
    "send_sample",
    "sign_report",
]
