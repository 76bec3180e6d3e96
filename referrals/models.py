"""Two-way referrals between member institutions, with their timeline."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import Department, Institution
from records.models import Encounter, Patient


class Direction(models.TextChoices):
    UP = "up", _("Upward")
    DOWN = "down", _("Downward")


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")
    EMERGENCY = "emergency", _("Emergency")


class ReferralStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    UNDER_REVIEW = "under_review", _("Under review")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    REDIRECTED = "redirected", _("Redirected")
    ARRIVED = "arrived", _("Arrived")
    IN_TREATMENT = "in_treatment", _("In treatment")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")


#: Statuses in which a referral still waits for the receiving side's decision.
AWAITING_DECISION = frozenset({ReferralStatus.SUBMITTED, ReferralStatus.UNDER_REVIEW})
#: Statuses in which a referral links the patient to the receiving institution.
ACTIVE = frozenset(
    {
        ReferralStatus.SUBMITTED,
        ReferralStatus.UNDER_REVIEW,
        ReferralStatus.ACCEPTED,
        ReferralStatus.ARRIVED,
        ReferralStatus.IN_TREATMENT,
    }
)


class Referral(models.Model):
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="referrals")
    direction = models.CharField(_("direction"), max_length=4, choices=Direction.choices)
    from_institution = models.ForeignKey(
        Institution, verbose_name=_("from institution"), on_delete=models.PROTECT, related_name="referrals_sent"
    )
    to_institution = models.ForeignKey(
        Institution, verbose_name=_("to institution"), on_delete=models.PROTECT, related_name="referrals_received"
    )
    to_department = models.ForeignKey(
        Department, verbose_name=_("to department"), null=True, blank=True, on_delete=models.PROTECT, related_name="referrals"
    )
    source_encounter = models.ForeignKey(
        Encounter, verbose_name=_("source encounter"), null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals"
    )
    urgency = models.CharField(_("urgency"), max_length=16, choices=Urgency.choices, default=Urgency.ROUTINE)
    reason = models.TextField(_("reason"))
    clinical_summary = models.JSONField(_("clinical summary snapshot"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=ReferralStatus.choices, default=ReferralStatus.DRAFT)
    due_at = models.DateTimeField(_("decision due at"), null=True, blank=True)
    appointment_at = models.DateTimeField(_("appointment"), null=True, blank=True)
    decision_reason = models.TextField(_("decision reason"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["due_at", "pk"]
        indexes = [
            models.Index(fields=["to_institution", "status", "due_at"]),
            models.Index(fields=["from_institution", "status"]),
        ]

    def __str__(self):
        return f"#{self.pk} {self.patient.name} → {self.to_institution}"


class ReferralEvent(models.Model):
    """One step on a referral's timeline."""

    referral = models.ForeignKey(Referral, verbose_name=_("referral"), on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(_("from status"), max_length=16, choices=ReferralStatus.choices, blank=True)
    to_status = models.CharField(_("to status"), max_length=16, choices=ReferralStatus.choices)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("referral event")
        verbose_name_plural = _("referral events")
        ordering = ["occurred_at", "pk"]

    def __str__(self):
        return f"{self.from_status or '-'} → {self.to_status}"
