"""Shared patient records: the master patient index and encounters."""

import hashlib
import hmac
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import Department, Institution, Staff

from .resident_id import mask_phone, mask_resident_id, validate_resident_id


def identifier_hash(kind: str, value: str) -> str:
    """Keyed hash for exact lookup of a resident ID or phone number."""
    key = settings.IDENTIFIER_HASH_KEY.encode()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


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
    name = models.CharField(_("name"), max_length=64)
    name_pinyin = models.CharField(_("name (pinyin)"), max_length=128, blank=True, db_index=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    resident_id = models.CharField(_("resident ID"), max_length=18, blank=True, validators=[validate_resident_id])
    resident_id_hash = models.CharField(max_length=64, blank=True, editable=False)
    insurance_number = models.CharField(_("insurance number"), max_length=32, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    phone_hash = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    village = models.CharField(_("village"), max_length=100, blank=True)
    consents_to_sharing = models.BooleanField(
        _("consents to consortium sharing"),
        default=False,
        help_text=_("Recorded consent lets staff of other member institutions read this record."),
    )
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
        indexes = [models.Index(fields=["birth_date", "name"])]

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
