"""Shared patient records: the master patient index and encounters."""

from collections.abc import Mapping
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consortium import crypto
from consortium.fields import EncryptedCharField
from consortium.models import ChainedRecord, Department, Institution, Staff

from .resident_id import mask_phone, mask_resident_id, validate_resident_id


def identifier_hash(kind: str, value: str) -> str:
    """Keyed hash a row stores for exact lookup of a resident ID or phone (``<key id>:<hex>``, writing key)."""
    return crypto.lookup_hash(kind, value)


def identifier_hashes(kind: str, value: str) -> list[str]:
    """Every hash a stored row may carry for ``value`` (one per key of the ring): filter with ``__in``."""
    return crypto.lookup_hashes(kind, value)


def hash_aliases(kind: str, values, *, hashed: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{hash under any key of the ring: hash under the writing key}`` for ``values`` (set-based lookups).

    ``hashed`` gives values' hashes under the writing key already computed (a batch's rows carry
    them): only the older keys of the ring, if any, are computed for those.
    """
    hashed = hashed or {}
    aliases = {}
    for value in values:
        current = hashed.get(value) or crypto.lookup_hash(kind, value)
        aliases[current] = current
        aliases.update(dict.fromkeys(crypto.older_lookup_hashes(kind, value), current))
    return aliases


class Sex(models.TextChoices):
    MALE = "M", _("Male")
    FEMALE = "F", _("Female")
    UNKNOWN = "U", _("Unknown")


icd10_validator = RegexValidator(r"^[A-Z]\d{2}(\.\d{1,2})?$", _("An ICD-10 code looks like J06.9 or I10."))


class Patient(models.Model):
    """One person in the master patient index, registered at a home institution."""

    home_institution = models.ForeignKey(
        Institution, verbose_name=_("home institution"), on_delete=models.PROTECT, related_name="registered_patients"
    )
    name = models.CharField(pgettext_lazy("person", "name"), max_length=64)
    name_pinyin = models.CharField(_("name (pinyin)"), max_length=128, blank=True, db_index=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    # Encrypted at rest value by value (consortium.crypto); found through the keyed hashes beside them.
    resident_id = EncryptedCharField(_("resident ID"), max_length=18, blank=True, validators=[validate_resident_id])
    resident_id_hash = models.CharField(max_length=81, blank=True, editable=False)
    insurance_number = models.CharField(_("insurance number"), max_length=32, blank=True)
    phone = EncryptedCharField(_("phone"), max_length=20, blank=True)
    phone_hash = models.CharField(max_length=81, blank=True, editable=False, db_index=True)
    address = EncryptedCharField(_("address"), max_length=300, blank=True)
    village = models.CharField(_("village"), max_length=100, blank=True)
    consents_to_sharing = models.BooleanField(
        _("consents to consortium sharing"),
        default=False,
        help_text=_("Recorded consent lets staff of other member institutions read this record."),
    )
    merged_into = models.ForeignKey(
        "self", verbose_name=_("merged into"), null=True, blank=True, on_delete=models.PROTECT, related_name="merged_patients"
    )
    registration_key = models.CharField(_("registration key"), max_length=64, null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        ordering = ["name_pinyin", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["resident_id_hash"], condition=~Q(resident_id_hash=""), name="patient_unique_resident_id"
            ),
            models.UniqueConstraint(
                fields=["insurance_number"], condition=~Q(insurance_number=""), name="patient_unique_insurance_number"
            ),
        ]
        indexes = [
            # The scored matcher's candidates, read from this index alone on PostgreSQL (records.matching);
            # SQLite has no INCLUDE and keeps the two key columns.
            models.Index(
                fields=["birth_date", "name"],
                include=["name_pinyin", "sex", "village", "merged_into", "id"],
                name="patient_candidate_idx",
            ),
            models.Index(fields=["name"], name="patient_name_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.masked_resident_id or self.pk})"

    def save(self, *args, **kwargs):
        self.resident_id_hash = identifier_hash("resident_id", self.resident_id) if self.resident_id else ""
        self.phone_hash = identifier_hash("phone", self.phone) if self.phone else ""
        super().save(*args, **kwargs)

    @property
    def masked_resident_id(self) -> str:
        return mask_resident_id(self.resident_id) if self.resident_id else ""

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone) if self.phone else ""

    @property
    def age(self) -> int:
        today = timezone.localdate()
        return today.year - self.birth_date.year - ((today.month, today.day) < (self.birth_date.month, self.birth_date.day))


class EncounterKind(models.TextChoices):
    OUTPATIENT = "outpatient", _("Outpatient")
    INPATIENT = "inpatient", _("Inpatient")
    FOLLOW_UP = "follow_up", _("Follow-up")


class Encounter(models.Model):
    """A visit of a patient at an institution."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="encounters")
    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="encounters"
    )
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.SET_NULL, related_name="encounters"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=EncounterKind.choices, default=EncounterKind.OUTPATIENT)
    started_at = models.DateTimeField(_("started at"), db_index=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    chief_complaint = models.TextField(_("chief complaint"), blank=True)
    attending = models.ForeignKey(
        Staff, verbose_name=_("attending staff"), null=True, blank=True, on_delete=models.SET_NULL, related_name="encounters"
    )
    external_id = models.CharField(_("external ID"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("encounter")
        verbose_name_plural = _("encounters")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["institution", "started_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "external_id"], condition=~Q(external_id=""), name="encounter_unique_external_id"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")), name="encounter_ends_after_start"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d} @ {self.institution}"

    @property
    def total_charges(self) -> Decimal:
        return sum((item.amount for item in self.charge_items.all()), Decimal("0.00"))


class Diagnosis(models.Model):
    encounter = models.ForeignKey(Encounter, verbose_name=_("encounter"), on_delete=models.CASCADE, related_name="diagnoses")
    code = models.CharField(_("ICD-10 code"), max_length=8, validators=[icd10_validator])
    description = models.CharField(_("description"), max_length=200)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("diagnosis")
        verbose_name_plural = _("diagnoses")
        ordering = ["-is_primary", "pk"]

    def __str__(self):
        return f"{self.code} {self.description}"


class CatalogueClass(models.TextChoices):
    """The insurance drug and service catalogue classes: fully, partly or not covered."""

    A = "A", _("Class A (甲, fully covered)")
    B = "B", _("Class B (乙, partly covered)")
    C = "C", _("Class C (丙, not covered)")


class ChargeCategory(models.TextChoices):
    DRUG = "drug", _("Drug")
    EXAMINATION = "examination", _("Examination")
    LABORATORY = "laboratory", _("Laboratory test")
    TREATMENT = "treatment", _("Treatment")
    MATERIAL = "material", _("Medical material")
    BED = "bed", _("Bed")
    CONSULTATION = "consultation", _("Consultation")


class CatalogueKind(models.TextChoices):
    DRUG = "drug", _("Drug catalogue")
    SERVICE = "service", _("Service item price catalogue")


class CatalogueEntry(models.Model):
    """One drug or service item of the consortium's catalogue, with its price and insurance class.

    Codes follow the national medical insurance coding (a drug's 23-character code, a service item's
    15-digit code); ``initials`` are the name's pinyin initials, for search (``adpa`` finds 阿司匹林...).
    Loaded and replaced by the consortium administrator with a CSV import (:mod:`records.catalogues`).
    """

    kind = models.CharField(_("catalogue"), max_length=8, choices=CatalogueKind.choices)
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(pgettext_lazy("catalogue item", "name"), max_length=200)
    initials = models.CharField(_("pinyin initials"), max_length=100, blank=True, db_index=True)
    specification = models.CharField(_("specification"), max_length=100, blank=True)
    dosage_form = models.CharField(_("dosage form"), max_length=32, blank=True)
    unit = models.CharField(_("unit"), max_length=16, blank=True)
    unit_price = models.DecimalField(_("unit price"), max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])
    insurance_class = models.CharField(_("insurance class"), max_length=1, choices=CatalogueClass.choices)
    category = models.CharField(_("category"), max_length=16, choices=ChargeCategory.choices)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("catalogue entry")
        verbose_name_plural = _("catalogue entries")
        ordering = ["kind", "name", "code"]
        constraints = [models.UniqueConstraint(fields=["kind", "code"], name="catalogue_entry_unique_code")]
        indexes = [models.Index(fields=["kind", "name"], name="catalogue_entry_name_idx")]

    def __str__(self):
        return f"{self.code} {self.name}"


class CatalogueImport(models.Model):
    """One accepted catalogue file: what it changed, by whom (a refused file changes nothing and is not kept)."""

    kind = models.CharField(_("catalogue"), max_length=8, choices=CatalogueKind.choices)
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    replace = models.BooleanField(_("replaced the catalogue"), default=False)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    created = models.PositiveIntegerField(_("entries added"), default=0)
    updated = models.PositiveIntegerField(_("changed"), default=0)
    deactivated = models.PositiveIntegerField(_("withdrawn"), default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)

    class Meta:
        verbose_name = _("catalogue import")
        verbose_name_plural = _("catalogue imports")
        ordering = ["-imported_at", "-pk"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.imported_at:%Y-%m-%d %H:%M}"


class ChargeItem(models.Model):
    encounter = models.ForeignKey(Encounter, verbose_name=_("encounter"), on_delete=models.CASCADE, related_name="charge_items")
    item_code = models.CharField(_("item code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    category = models.CharField(_("category"), max_length=16, choices=ChargeCategory.choices)
    catalogue_class = models.CharField(_("catalogue class"), max_length=1, choices=CatalogueClass.choices)
    quantity = models.DecimalField(
        _("quantity"), max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    unit_price = models.DecimalField(
        _("unit price"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("charge item")
        verbose_name_plural = _("charge items")
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="charge_item_amount_not_negative")]

    def __str__(self):
        return f"{self.name} × {self.quantity}"


class PatientIdentifier(models.Model):
    """A patient's number in one institution's own system (HIS medical record number)."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="identifiers")
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.CASCADE, related_name="+")
    value = models.CharField(_("local number"), max_length=64)

    class Meta:
        verbose_name = _("patient identifier")
        verbose_name_plural = _("patient identifiers")
        constraints = [models.UniqueConstraint(fields=["institution", "value"], name="patient_identifier_unique")]

    def __str__(self):
        return f"{self.institution_id}:{self.value}"


class Consent(models.Model):
    """A recorded decision of the patient about consortium sharing; the latest one counts."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="consents")
    granted = models.BooleanField(_("consents to sharing"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-recorded_at", "-pk"]

    def __str__(self):
        return f"consent {self.patient_id}: {self.granted}"


class AccessReason(models.TextChoices):
    OWN_INSTITUTION = "own_institution", _("Own institution")
    OWN_VISITS = "own_visits", _("Own visits only")
    CONSENT = "consent", _("Patient consent")
    REFERRAL = "referral", _("Active referral")
    DIAGNOSTIC_ORDER = "diagnostic_order", _("Open diagnostic order")
    BREAK_GLASS = "break_glass", _("Break-glass")
    ADMINISTRATOR = "administrator", _("System administrator")
    CARE_TEAM = "care_team", _("Chronic care (team or register)")
    DENIED = "denied", _("No access: refused")


class AccessAction(models.TextChoices):
    READ = "read", _("Read")
    LIST = "list", _("Listed")
    SEARCH = "search", _("Found by search")
    PUSH = "push", _("Pushed to a member system")
    PRINT = "print", pgettext_lazy("access action", "Printed")
    EXPORT = "export", _("Exported")


class AccessOutcome(models.TextChoices):
    ALLOWED = "allowed", _("Allowed")
    DENIED = "denied", _("Denied")


class AccessLog(ChainedRecord):
    """One access to a patient's record, as IHE ATNA records it: who (user or API client, their
    institution), from where (address, user agent), what (patient, path, read / listed / found by
    search), why (the access reason is the purpose of use) and the outcome (a refused read too).
    Append-only and sealed into the audit chain with the audit events."""

    CHAIN_FIELDS = (
        "occurred_at",
        "patient",
        "user",
        "api_client",
        "institution",
        "path",
        "reason",
        "action",
        "outcome",
        "ip",
        "user_agent",
        "break_glass",
    )
    PARTITION_BY, PARTITION_KEY = "occurred_at", "access_log"  # monthly partitions on PostgreSQL (consortium.partitions)

    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now, db_index=True)
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="access_logs")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_client = models.ForeignKey(
        "consortium.ApiClient", verbose_name=_("API client"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    institution = models.ForeignKey(
        Institution, verbose_name=_("reader's institution"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    path = models.CharField(_("path"), max_length=300)
    reason = models.CharField(_("reason"), max_length=16, choices=AccessReason.choices)
    action = models.CharField(_("action"), max_length=8, choices=AccessAction.choices, default=AccessAction.READ)
    outcome = models.CharField(_("access outcome"), max_length=8, choices=AccessOutcome.choices, default=AccessOutcome.ALLOWED)
    ip = models.CharField(_("client address"), max_length=45, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    break_glass = models.ForeignKey(
        "BreakGlassAccess", verbose_name=_("break-glass"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        ordering = ["-occurred_at", "-pk"]
        indexes = [models.Index(fields=["patient", "occurred_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_period", "chain_seq"], condition=~Q(chain_period=""), name="access_log_unique_chain_place"
            )
        ]

    def __str__(self):
        return f"read of patient {self.patient_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class PurposeOfUse(models.TextChoices):
    """Why a list was read, as HL7's PurposeOfUse codes (the ones IHE ATNA audit messages carry)."""

    TREATMENT = "TREAT", _("Treatment")
    COORDINATION = "COC", _("Coordination of care")
    PAYMENT = "HPAYMT", _("Payment")
    OPERATIONS = "HOPERAT", _("Health care operations")
    PUBLIC_HEALTH = "PUBHLTH", _("Public health")


class ListAccessLog(ChainedRecord):
    """One page or API answer that showed patients in a list (a queue, a worklist, claims, a panel):
    who (user or API client, role, institution), from where (address, user agent), what (the path and
    the ids of the patients shown, in the order shown), why (purpose of use) and the outcome — one
    row per request, not per patient.  A refused list request is a row with the outcome denied and
    no patients.  Append-only and sealed into the audit chain with the access log and the audit events.
    """

    CHAIN_FIELDS = (
        "occurred_at",
        "user",
        "api_client",
        "institution",
        "role",
        "path",
        "action",
        "purpose",
        "outcome",
        "ip",
        "user_agent",
        "patient_ids",
    )
    PARTITION_BY, PARTITION_KEY = "occurred_at", "list_access_log"  # monthly, with the rest of its chain month

    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_client = models.ForeignKey(
        "consortium.ApiClient", verbose_name=_("API client"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    institution = models.ForeignKey(
        Institution, verbose_name=_("reader's institution"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.CharField(_("role"), max_length=32, blank=True)
    path = models.CharField(_("path"), max_length=300)
    action = models.CharField(_("action"), max_length=8, choices=AccessAction.choices, default=AccessAction.LIST)
    purpose = models.CharField(_("purpose of use"), max_length=8, choices=PurposeOfUse.choices)
    outcome = models.CharField(_("access outcome"), max_length=8, choices=AccessOutcome.choices, default=AccessOutcome.ALLOWED)
    ip = models.CharField(_("client address"), max_length=45, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    patient_ids = models.JSONField(_("patients shown"), default=list, blank=True)

    class Meta:
        verbose_name = _("list access log entry")
        verbose_name_plural = _("list access log")
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_period", "chain_seq"], condition=~Q(chain_period=""), name="list_access_unique_chain_place"
            )
        ]

    def __str__(self):
        return f"list of {len(self.patient_ids)} patients at {self.occurred_at:%Y-%m-%d %H:%M}"


class BreakGlassReason(models.TextChoices):
    EMERGENCY = "emergency", _("Emergency treatment")
    CONTINUING_CARE = "continuing_care", _("Continuing care of a patient under treatment here")
    UNCONSCIOUS = "unconscious", _("Patient unable to consent (unconscious or confused)")
    PUBLIC_HEALTH = "public_health", _("Public health emergency")


class BreakGlassReview(models.TextChoices):
    JUSTIFIED = "justified", _("Justified")
    NOT_JUSTIFIED = "not_justified", _("Not justified")


class BreakGlassAccess(models.Model):
    """Emergency access to another institution's patient: a coded and a written reason, time-limited,
    notified at once to the home institution's staff and the consortium's privacy officer, and reviewed
    by the home institution before ``review_due_at`` (overdue ones are flagged in both queues)."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="break_glass")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="+")
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="+")
    reason_code = models.CharField(
        _("coded reason"), max_length=16, choices=BreakGlassReason.choices, default=BreakGlassReason.EMERGENCY
    )
    reason = models.TextField(_("reason"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    review_due_at = models.DateTimeField(_("review due by"), null=True, blank=True, db_index=True)
    reviewed_at = models.DateTimeField(_("reviewed by home institution at"), null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reviewed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    review_outcome = models.CharField(_("review outcome"), max_length=16, choices=BreakGlassReview.choices, blank=True)
    review_note = models.TextField(_("review note"), blank=True)

    class Meta:
        verbose_name = _("break-glass access")
        verbose_name_plural = _("break-glass accesses")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["patient", "user", "expires_at"])]

    def __str__(self):
        return f"break-glass on patient {self.patient_id} until {self.expires_at:%Y-%m-%d %H:%M}"

    @property
    def review_overdue(self) -> bool:
        return self.reviewed_at is None and self.review_due_at is not None and self.review_due_at < timezone.now()


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("Open")
    LINKED = "linked", _("Linked to the candidate")
    SEPARATE = "separate", _("Kept as a separate patient")


class MatchReview(models.Model):
    """An uncertain pair from matching: a newly created patient that may be the same person as an existing one."""

    patient = models.ForeignKey(Patient, verbose_name=_("incoming patient"), on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(Patient, verbose_name=_("candidate"), on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(_("score"))
    status = models.CharField(_("status"), max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    source = models.CharField(_("source"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("match review")
        verbose_name_plural = _("match reviews")
        ordering = ["-score", "pk"]
        constraints = [models.UniqueConstraint(fields=["patient", "candidate"], name="match_review_unique_pair")]

    def __str__(self):
        return f"{self.patient_id} ~ {self.candidate_id} ({self.score:.2f})"


class PatientMerge(models.Model):
    """A merge of a duplicate into a surviving patient; keeps what moved so that it can be undone."""

    survivor = models.ForeignKey(Patient, verbose_name=_("surviving patient"), on_delete=models.PROTECT, related_name="+")
    merged = models.ForeignKey(Patient, verbose_name=_("merged patient"), on_delete=models.PROTECT, related_name="+")
    moved = models.JSONField(_("moved rows"), default=dict)
    merged_at = models.DateTimeField(_("merged at"), default=timezone.now)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("merged by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    unmerged_at = models.DateTimeField(_("unmerged at"), null=True, blank=True)
    unmerged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("unmerged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("patient merge")
        verbose_name_plural = _("patient merges")
        ordering = ["-merged_at"]

    def __str__(self):
        return f"{self.merged_id} → {self.survivor_id}"


class Prescription(models.Model):
    encounter = models.ForeignKey(Encounter, verbose_name=_("encounter"), on_delete=models.CASCADE, related_name="prescriptions")
    drug_code = models.CharField(_("drug code"), max_length=32, blank=True)
    drug_name = models.CharField(_("drug"), max_length=200)
    dose = models.CharField(_("dose"), max_length=64, blank=True)
    frequency = models.CharField(_("frequency"), max_length=64, blank=True)
    days = models.PositiveIntegerField(_("days"), null=True, blank=True)

    class Meta:
        verbose_name = _("prescription")
        verbose_name_plural = _("prescriptions")
        ordering = ["pk"]

    def __str__(self):
        return self.drug_name


class ObservationKind(models.TextChoices):
    VITAL = "vital", _("Vital sign")
    LAB = "lab", _("Laboratory result")


class Observation(models.Model):
    encounter = models.ForeignKey(Encounter, verbose_name=_("encounter"), on_delete=models.CASCADE, related_name="observations")
    kind = models.CharField(_("kind"), max_length=8, choices=ObservationKind.choices, default=ObservationKind.VITAL)
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=3)
    unit = models.CharField(_("unit"), max_length=32, blank=True)
    reference_low = models.DecimalField(_("reference low"), max_digits=12, decimal_places=3, null=True, blank=True)
    reference_high = models.DecimalField(_("reference high"), max_digits=12, decimal_places=3, null=True, blank=True)
    observed_at = models.DateTimeField(_("observed at"), default=timezone.now)

    class Meta:
        verbose_name = _("observation")
        verbose_name_plural = _("observations")
        ordering = ["-observed_at", "pk"]

    def __str__(self):
        return f"{self.name} {self.value} {self.unit}"

    @property
    def out_of_range(self) -> bool:
        return (self.reference_low is not None and self.value < self.reference_low) or (
            self.reference_high is not None and self.value > self.reference_high
        )


class Allergy(models.Model):
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="allergies")
    substance = models.CharField(_("substance"), max_length=100)
    reaction = models.CharField(_("reaction"), max_length=200, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("allergy")
        verbose_name_plural = _("allergies")
        ordering = ["substance"]

    def __str__(self):
        return self.substance


class EncounterRevision(models.Model):
    """One edit of an encounter: who changed which fields, from what to what, and when."""

    encounter = models.ForeignKey(Encounter, verbose_name=_("encounter"), on_delete=models.CASCADE, related_name="revisions")
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("changed by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(_("changes"), default=dict)

    class Meta:
        verbose_name = _("encounter revision")
        verbose_name_plural = _("encounter revisions")
        ordering = ["-changed_at", "-pk"]

    def __str__(self):
        return f"encounter {self.encounter_id} at {self.changed_at:%Y-%m-%d %H:%M}"


class NoticeKind(models.TextChoices):
    VISIT_ELSEWHERE = "visit_elsewhere", _("Visit recorded at another institution")
    BREAK_GLASS = "break_glass", _("Break-glass access")


class HomeNotice(models.Model):
    """A notice to a patient's home institution: another member recorded a visit of the patient
    (the visit was matched to the home clinic's patient), or opened the record by break-glass.

    Visits from one institution accumulate on one open notice (``visits``) until the home clinic
    acknowledges it, so a batch of a hundred visits is one line, not a hundred (two concurrent
    batches may open two; nothing is lost, so no unique constraint makes a batch fail over it).
    """

    institution = models.ForeignKey(
        Institution, verbose_name=_("home institution"), on_delete=models.CASCADE, related_name="home_notices"
    )
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="home_notices")
    kind = models.CharField(_("kind"), max_length=16, choices=NoticeKind.choices)
    from_institution = models.ForeignKey(
        Institution, verbose_name=_("acting institution"), on_delete=models.CASCADE, related_name="+"
    )
    visits = models.PositiveIntegerField(_("visits"), default=0)
    break_glass = models.ForeignKey(
        BreakGlassAccess, verbose_name=_("break-glass"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("home-clinic notice")
        verbose_name_plural = _("home-clinic notices")
        ordering = [models.F("acknowledged_at").asc(nulls_first=True), "-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["institution", "acknowledged_at"]),
            models.Index(fields=["patient", "from_institution", "acknowledged_at"]),
        ]

    def __str__(self):
        return f"notice to {self.institution_id} about patient {self.patient_id}: {self.kind}"
