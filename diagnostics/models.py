"""Shared diagnostic services: centres run by member hospitals, what they read, and the orders they read.

A township captures (an X-ray, an ECG, a blood sample) and a hospital centre reads (基层检查、上级诊断):
an :class:`Order` is the FHIR ``ServiceRequest`` from a clinic visit to a :class:`Centre` for one
:class:`CentreService`; its material arrives as :class:`OrderAttachment` files or :class:`Sample` tubes;
a :class:`Reader` claims it, writes a :class:`ReportVersion` (never overwritten: an amendment is a new
version) with its :class:`ReportObservation` values, and a :class:`CriticalValue` must be acknowledged
by the ordering clinic before its deadline.  Prior results are recognised across members
(:class:`RecognisedItem`, :class:`RecognitionDecision`).  Every step is a :class:`DiagnosticEvent`.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consortium.models import Consortium, Department, Institution, Staff
from records.models import CatalogueClass, ChargeCategory, ChargeItem, Encounter, Patient


class CentreKind(models.TextChoices):
    IMAGING = "imaging", _("Imaging centre")
    ECG = "ecg", _("ECG centre")
    LAB = "lab", _("Clinical laboratory centre")
    PATHOLOGY = "pathology", _("Pathology centre")
    CONSULTATION = "consultation", _("Remote consultation centre")


class Modality(models.TextChoices):
    """What a service reads; imaging ones are DICOM modality codes."""

    CR = "CR", _("X-ray (CR/DX)")
    CT = "CT", _("CT")
    MR = "MR", _("MRI")
    US = "US", _("Ultrasound")
    ECG = "ECG", _("Electrocardiogram")
    LAB = "LAB", _("Laboratory test")
    PATH = "PATH", _("Pathology")


#: Modalities each kind of centre reads.
KIND_MODALITIES = {
    CentreKind.IMAGING: {Modality.CR, Modality.CT, Modality.MR, Modality.US},
    CentreKind.ECG: {Modality.ECG},
    CentreKind.LAB: {Modality.LAB},
    CentreKind.PATHOLOGY: {Modality.PATH},
    CentreKind.CONSULTATION: set(),
}
#: DICOM modality codes a file may carry for each imaging modality of a service.
DICOM_MODALITIES = {Modality.CR: {"CR", "DX"}, Modality.CT: {"CT"}, Modality.MR: {"MR"}, Modality.US: {"US"}}
IMAGING_MODALITIES = frozenset(DICOM_MODALITIES)


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")
    STAT = "stat", _("STAT (emergency)")


URGENCY_RANK = {Urgency.STAT: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}


class Centre(models.Model):
    """A shared centre run by a member hospital for the members of one consortium."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=CentreKind.choices)
    institution = models.ForeignKey(
        Institution, verbose_name=_("run by"), on_delete=models.PROTECT, related_name="diagnostic_centres"
    )
    consortium = models.ForeignKey(Consortium, verbose_name=_("consortium"), on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    served_institutions = models.ManyToManyField(
        Institution,
        verbose_name=_("served institutions"),
        blank=True,
        related_name="diagnostic_providers",
        help_text=_("Member institutions of the consortium that may order from this centre."),
    )
    critical_ack_minutes = models.PositiveIntegerField(
        _("critical value acknowledgement deadline (minutes)"), default=30, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("diagnostic centre")
        verbose_name_plural = _("diagnostic centres")
        ordering = ["code"]

    def __str__(self):
        return self.name


class CentreService(models.Model):
    """One service in a centre's catalogue: what it reads, how fast, and the reading fee charged."""

    centre = models.ForeignKey(Centre, verbose_name=_("centre"), on_delete=models.CASCADE, related_name="services")
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    modality = models.CharField(_("modality"), max_length=8, choices=Modality.choices)
    body_site = models.CharField(_("body site"), max_length=100, blank=True)
    specimen = models.CharField(_("specimen"), max_length=100, blank=True)
    turnaround_routine_hours = models.PositiveIntegerField(_("turnaround target, routine (hours)"), default=24)
    turnaround_urgent_hours = models.PositiveIntegerField(_("turnaround target, urgent (hours)"), default=4)
    turnaround_stat_hours = models.PositiveIntegerField(_("turnaround target, STAT (hours)"), default=1)
    fee_item_code = models.CharField(_("reading fee item code"), max_length=32)
    fee_name = models.CharField(_("reading fee item name"), max_length=200)
    fee_amount = models.DecimalField(
        _("reading fee"), max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    fee_category = models.CharField(
        _("fee category"), max_length=16, choices=ChargeCategory.choices, default=ChargeCategory.EXAMINATION
    )
    fee_catalogue_class = models.CharField(
        _("fee catalogue class"), max_length=1, choices=CatalogueClass.choices, default=CatalogueClass.A
    )
    requires_second_reader = models.BooleanField(
        _("requires a second reader"), default=False, help_text=_("The report is final only after a second reader reviews it.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("centre service")
        verbose_name_plural = _("centre services")
        ordering = ["centre__code", "code"]
        constraints = [models.UniqueConstraint(fields=["centre", "code"], name="centre_service_unique_code")]

    def __str__(self):
        return f"{self.code} {self.name}"

    def turnaround_hours(self, urgency: str) -> int:
        return {
            Urgency.STAT: self.turnaround_stat_hours,
            Urgency.URGENT: self.turnaround_urgent_hours,
        }.get(urgency, self.turnaround_routine_hours)


class Analyte(models.Model):
    """A value a lab service reports, with its unit, reference range and critical limits."""

    service = models.ForeignKey(CentreService, verbose_name=_("service"), on_delete=models.CASCADE, related_name="analytes")
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    unit = models.CharField(_("unit"), max_length=32, blank=True)
    reference_low = models.DecimalField(_("reference low"), max_digits=12, decimal_places=3, null=True, blank=True)
    reference_high = models.DecimalField(_("reference high"), max_digits=12, decimal_places=3, null=True, blank=True)
    critical_low = models.DecimalField(_("critical low"), max_digits=12, decimal_places=3, null=True, blank=True)
    critical_high = models.DecimalField(_("critical high"), max_digits=12, decimal_places=3, null=True, blank=True)

    class Meta:
        verbose_name = _("analyte")
        verbose_name_plural = _("analytes")
        ordering = ["service", "code"]
        constraints = [models.UniqueConstraint(fields=["service", "code"], name="analyte_unique_code")]

    def __str__(self):
        return f"{self.code} {self.name}"


class Reader(models.Model):
    """A staff member who reads for a centre, qualified for some of its modalities."""

    centre = models.ForeignKey(Centre, verbose_name=_("centre"), on_delete=models.CASCADE, related_name="readers")
    staff = models.ForeignKey(Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="reader_roles")
    modalities = models.JSONField(_("qualified modalities"), default=list, help_text=_('Modality codes, e.g. ["CR", "CT"].'))
    qualification = models.CharField(_("qualification"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("reader")
        verbose_name_plural = _("readers")
        ordering = ["centre__code", "staff__display_name"]
        constraints = [models.UniqueConstraint(fields=["centre", "staff"], name="reader_unique_per_centre")]

    def __str__(self):
        return f"{self.staff.display_name} @ {self.centre.code}"

    def reads(self, modality: str) -> bool:
        return self.is_active and modality in (self.modalities or [])


class OrderStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    SCHEDULED = "scheduled", _("Scheduled")
    RECEIVED = "received", _("Received, awaiting reading")
    CLAIMED = "claimed", _("Being read")
    PRELIMINARY = "preliminary", _("Preliminary, awaiting review")
    FINAL = "final", _("Final")
    AMENDED = "amended", _("Amended")
    REJECTED = "rejected", _("Rejected by the centre")
    CANCELLED = "cancelled", _("Cancelled")


#: An order in one of these is still with the centre: it opens the patient's record to the centre.
OPEN_STATUSES = frozenset(
    {OrderStatus.REQUESTED, OrderStatus.SCHEDULED, OrderStatus.RECEIVED, OrderStatus.CLAIMED, OrderStatus.PRELIMINARY}
)
REPORTED_STATUSES = frozenset({OrderStatus.FINAL, OrderStatus.AMENDED})
WORKLIST_STATUSES = frozenset({OrderStatus.RECEIVED, OrderStatus.CLAIMED, OrderStatus.PRELIMINARY})


class Order(models.Model):
    """A diagnostic order from a clinic visit to a centre (FHIR ``ServiceRequest``)."""

    accession = models.CharField(_("accession number"), max_length=32, unique=True)
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="diagnostic_orders")
    encounter = models.ForeignKey(
        Encounter, verbose_name=_("ordering visit"), on_delete=models.PROTECT, related_name="diagnostic_orders"
    )
    ordering_institution = models.ForeignKey(
        Institution, verbose_name=_("ordering institution"), on_delete=models.PROTECT, related_name="diagnostic_orders"
    )
    centre = models.ForeignKey(Centre, verbose_name=_("centre"), on_delete=models.PROTECT, related_name="orders")
    service = models.ForeignKey(CentreService, verbose_name=_("service"), on_delete=models.PROTECT, related_name="orders")
    modality = models.CharField(_("modality"), max_length=8, choices=Modality.choices)
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices, default=Urgency.ROUTINE)
    urgency_rank = models.PositiveSmallIntegerField(default=2, editable=False)
    reason = models.TextField(_("reason for the order"))
    clinical_question = models.TextField(_("clinical question"), blank=True)
    body_site = models.CharField(_("body site"), max_length=100, blank=True)
    specimen = models.CharField(_("specimen"), max_length=100, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.REQUESTED)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    due_at = models.DateTimeField(_("report due at"), null=True, blank=True)
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("claimed by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    reported_at = models.DateTimeField(_("reported at"), null=True, blank=True)
    rejection_reason = models.TextField(_("rejection reason"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("ordered by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    charge_item = models.OneToOneField(
        ChargeItem, verbose_name=_("reading fee charge"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_id = models.CharField(_("external ID"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("diagnostic order")
        verbose_name_plural = _("diagnostic orders")
        ordering = ["-requested_at", "-pk"]
        indexes = [
            models.Index(fields=["centre", "status", "urgency_rank", "due_at"], name="diag_order_worklist_idx"),
            models.Index(fields=["ordering_institution", "requested_at"], name="diag_order_clinic_idx"),
            models.Index(fields=["patient", "status"], name="diag_order_patient_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ordering_institution", "external_id"], condition=~Q(external_id=""), name="diag_order_unique_external_id"
            )
        ]

    def __str__(self):
        return f"{self.accession} {self.service.name}"

    def save(self, *args, **kwargs):
        self.urgency_rank = URGENCY_RANK.get(self.urgency, 2)
        super().save(*args, **kwargs)

    @property
    def is_overdue(self) -> bool:
        return self.status in OPEN_STATUSES and self.due_at is not None and self.due_at < timezone.now()


class AttachmentKind(models.TextChoices):
    DICOM = "dicom", _("DICOM image")
    ECG_PDF = "ecg_pdf", _("ECG (PDF)")
    ECG_IMAGE = "ecg_image", _("ECG (image)")
    ECG_XML = "ecg_xml", _("ECG (XML export)")
    DOCUMENT = "document", _("Document")


def attachment_path(instance, filename: str) -> str:
    extension = {"application/dicom": ".dcm", "application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}.get(
        instance.content_type, ".xml"
    )
    return f"diagnostics/{timezone.now():%Y/%m}/{instance.order_id}-{instance.sha256[:16]}{extension}"


class OrderAttachment(models.Model):
    """A file the clinic's device produced, recognised by its content; DICOM metadata read with pydicom."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(_("kind"), max_length=16, choices=AttachmentKind.choices)
    file = models.FileField(_("file"), upload_to=attachment_path)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=64)
    size = models.PositiveIntegerField(_("size in bytes"))
    sha256 = models.CharField(max_length=64)
    study_uid = models.CharField(_("study instance UID"), max_length=64, blank=True)
    series_uid = models.CharField(_("series instance UID"), max_length=64, blank=True)
    sop_uid = models.CharField(_("SOP instance UID"), max_length=64, blank=True)
    dicom_modality = models.CharField(_("DICOM modality"), max_length=16, blank=True)
    study_date = models.DateField(_("study date"), null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("order attachment")
        verbose_name_plural = _("order attachments")
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["order", "sha256"], name="order_attachment_unique_file")]

    def __str__(self):
        return self.original_name


class SampleStatus(models.TextChoices):
    COLLECTED = "collected", _("Collected")
    SENT = "sent", _("Sent")
    RECEIVED = "received", _("Received")
    REJECTED = "rejected", _("Rejected")


class Sample(models.Model):
    """A specimen tube of a lab order, followed by its barcode."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="samples")
    barcode = models.CharField(_("barcode"), max_length=32, unique=True)
    specimen = models.CharField(_("specimen"), max_length=100)
    status = models.CharField(_("status"), max_length=16, choices=SampleStatus.choices, default=SampleStatus.COLLECTED)
    collected_at = models.DateTimeField(_("collected at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), null=True, blank=True)
    rejection_reason = models.CharField(_("rejection reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("sample")
        verbose_name_plural = _("samples")
        ordering = ["pk"]

    def __str__(self):
        return self.barcode


class ReportVersion(models.Model):
    """One version of an order's report; a signed version is never changed, an amendment adds the next."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="report_versions")
    number = models.PositiveIntegerField(_("version"))
    findings = models.TextField(_("findings"), blank=True)
    impression = models.TextField(_("impression"))
    result_code = models.CharField(_("coded result"), max_length=32, blank=True)
    result_display = models.CharField(_("coded result text"), max_length=200, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("author"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    written_at = models.DateTimeField(_("written at"), default=timezone.now)
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    amendment_reason = models.TextField(_("amendment reason"), blank=True)

    class Meta:
        verbose_name = _("report version")
        verbose_name_plural = _("report versions")
        ordering = ["order", "-number"]
        constraints = [models.UniqueConstraint(fields=["order", "number"], name="report_version_unique_number")]

    def __str__(self):
        return f"{self.order.accession} v{self.number}"


class Interpretation(models.TextChoices):
    NORMAL = "N", _("Normal")
    LOW = "L", _("Low")
    HIGH = "H", _("High")
    CRITICAL_LOW = "LL", _("Critically low")
    CRITICAL_HIGH = "HH", _("Critically high")


class ReportObservation(models.Model):
    """A value of a report (a lab result, an ECG interval) with its unit and reference range (FHIR ``Observation``)."""

    version = models.ForeignKey(
        ReportVersion, verbose_name=_("report version"), on_delete=models.CASCADE, related_name="observations"
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=32, blank=True)
    reference_low = models.DecimalField(_("reference low"), max_digits=12, decimal_places=3, null=True, blank=True)
    reference_high = models.DecimalField(_("reference high"), max_digits=12, decimal_places=3, null=True, blank=True)
    interpretation = models.CharField(_("interpretation"), max_length=2, choices=Interpretation.choices, default="N")

    class Meta:
        verbose_name = _("report observation")
        verbose_name_plural = _("report observations")
        ordering = ["pk"]

    def __str__(self):
        return f"{self.name} {self.value} {self.unit}"


class CriticalStatus(models.TextChoices):
    RAISED = "raised", _("Raised, awaiting acknowledgement")
    ESCALATED = "escalated", _("Escalated")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    CLOSED = "closed", _("Closed")


class CriticalValue(models.Model):
    """A critical result (危急值) the ordering clinic must acknowledge before ``ack_due_at``."""

    order = models.ForeignKey(Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="critical_values")
    observation = models.ForeignKey(
        ReportObservation, verbose_name=_("observation"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.CharField(_("description"), max_length=300)
    status = models.CharField(_("status"), max_length=16, choices=CriticalStatus.choices, default=CriticalStatus.RAISED)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("raised by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raised_at = models.DateTimeField(_("raised at"), default=timezone.now)
    ack_due_at = models.DateTimeField(_("acknowledge by"))
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=pgettext_lazy("critical value", "closed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    closed_at = models.DateTimeField(pgettext_lazy("critical value", "closed at"), null=True, blank=True)
    action_taken = models.TextField(_("action taken"), blank=True)

    class Meta:
        verbose_name = _("critical value")
        verbose_name_plural = _("critical values")
        ordering = ["-raised_at", "-pk"]
        indexes = [models.Index(fields=["status", "ack_due_at"], name="critical_value_due_idx")]

    def __str__(self):
        return f"{self.order.accession}: {self.description}"

    @property
    def acknowledged_in_time(self) -> bool | None:
        if self.acknowledged_at is None:
            return None
        return self.acknowledged_at <= self.ack_due_at


class RecognitionScope(models.TextChoices):
    CONSORTIUM = "consortium", _("Whole consortium")
    CITY = "city", _("Same city (prefecture)")
    COUNTY = "county", _("Same county")


class RecognisedItem(models.Model):
    """A service whose result one member produced is recognised by the others for ``validity_days`` (互认)."""

    consortium = models.ForeignKey(Consortium, verbose_name=_("consortium"), on_delete=models.CASCADE, related_name="+")
    service_code = models.CharField(_("service code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    validity_days = models.PositiveIntegerField(_("validity (days)"), validators=[MinValueValidator(1)])
    scope = models.CharField(
        pgettext_lazy("recognition", "scope"),
        max_length=16,
        choices=RecognitionScope.choices,
        default=RecognitionScope.CONSORTIUM,
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("recognised item")
        verbose_name_plural = _("recognised items")
        ordering = ["consortium", "service_code"]
        constraints = [models.UniqueConstraint(fields=["consortium", "service_code"], name="recognised_item_unique_code")]

    def __str__(self):
        return f"{self.service_code} {self.name}"


class RepeatReason(models.TextChoices):
    CLINICALLY_CHANGED = "clinically_changed", _("Clinical condition has changed")
    QUALITY = "quality", _("Prior result of insufficient quality")
    DIFFERENT_QUESTION = "different_question", _("Prior study does not answer the clinical question")
    PATIENT_REQUEST = "patient_request", _("Patient requests a new test")
    FOLLOW_UP = "follow_up", _("Planned follow-up comparison")


class RecognitionDecision(models.Model):
    """What the orderer did with a recognised prior result: accepted it, or ordered again with a reason."""

    item = models.ForeignKey(
        RecognisedItem, verbose_name=_("recognised item"), on_delete=models.PROTECT, related_name="decisions"
    )
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey(Encounter, verbose_name=_("visit"), on_delete=models.PROTECT, related_name="+")
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="+")
    prior_order = models.ForeignKey(Order, verbose_name=_("prior result"), on_delete=models.PROTECT, related_name="recognitions")
    recognised = models.BooleanField(_("recognised"))
    repeat_reason = models.CharField(_("reason for repeating"), max_length=32, choices=RepeatReason.choices, blank=True)
    new_order = models.OneToOneField(
        Order, verbose_name=_("new order"), null=True, blank=True, on_delete=models.SET_NULL, related_name="recognition_decision"
    )
    avoided_cost = models.DecimalField(_("cost avoided"), max_digits=10, decimal_places=2, default=Decimal("0.00"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), default=timezone.now)

    class Meta:
        verbose_name = _("recognition decision")
        verbose_name_plural = _("recognition decisions")
        ordering = ["-decided_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(recognised=True, repeat_reason="") | Q(recognised=False) & ~Q(repeat_reason=""),
                name="recognition_repeat_needs_reason",
            )
        ]

    def __str__(self):
        return f"{self.item.service_code} {'recognised' if self.recognised else 'repeated'}"


class ConsultationStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    SCHEDULED = "scheduled", _("Scheduled")
    COMPLETED = "completed", _("Opinion given")
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")


class Consultation(models.Model):
    """A remote consultation (远程会诊): a clinic asks a specialist department for an opinion on a case."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="consultations")
    encounter = models.ForeignKey(Encounter, verbose_name=_("visit"), on_delete=models.PROTECT, related_name="consultations")
    requesting_institution = models.ForeignKey(
        Institution, verbose_name=_("requesting institution"), on_delete=models.PROTECT, related_name="+"
    )
    centre = models.ForeignKey(Centre, verbose_name=_("centre"), on_delete=models.PROTECT, related_name="consultations")
    question = models.TextField(_("question"))
    case_summary = models.JSONField(_("case summary"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ConsultationStatus.choices, default=ConsultationStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    participants = models.CharField(_("participants"), max_length=300, blank=True)
    meeting_link = models.URLField(_("meeting link"), blank=True)
    opinion = models.TextField(_("opinion"), blank=True)
    recommendations = models.TextField(_("recommendations"), blank=True)
    recommends_referral = models.BooleanField(_("recommends an upward referral"), default=False)
    opinion_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("opinion by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opinion_at = models.DateTimeField(_("opinion at"), null=True, blank=True)
    decline_reason = models.TextField(_("reason declined"), blank=True)

    class Meta:
        verbose_name = _("remote consultation")
        verbose_name_plural = _("remote consultations")
        ordering = ["-requested_at", "-pk"]

    def __str__(self):
        return f"consultation #{self.pk}"


class DiagnosticEvent(models.Model):
    """One step of an order, sample, critical value or consultation: who, when, from what to what."""

    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    sample = models.ForeignKey(Sample, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    critical_value = models.ForeignKey(CriticalValue, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    consultation = models.ForeignKey(Consultation, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(_("action"), max_length=32)
    from_status = models.CharField(_("from"), max_length=16, blank=True)
    to_status = models.CharField(_("to"), max_length=16, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("diagnostic event")
        verbose_name_plural = _("diagnostic events")
        ordering = ["occurred_at", "pk"]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action}"


class DiagnosticNotification(models.Model):
    """A message for one user about an order, a critical value or a consultation; emailed on commit."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="diagnostic_notifications"
    )
    text = models.CharField(_("text"), max_length=300)
    link = models.CharField(_("link"), max_length=200, blank=True)
    is_read = models.BooleanField(_("read"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("diagnostic notification")
        verbose_name_plural = _("diagnostic notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "is_read"], name="diag_notification_unread_idx")]

    def __str__(self):
        return self.text
