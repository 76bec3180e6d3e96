"""Two-way referrals between member institutions, with their timeline."""

import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import Consortium, Department, Institution
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
#: Statuses in which the sender may still add attachments.
ATTACHABLE = frozenset({ReferralStatus.DRAFT, ReferralStatus.SUBMITTED, ReferralStatus.UNDER_REVIEW})
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
    from_department = models.ForeignKey(
        Department,
        verbose_name=_("from department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referrals_sent",
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
    outside_schedule_reason = models.CharField(
        _("reason for an appointment outside the schedule"),
        max_length=500,
        blank=True,
        help_text=_("Given when the coordinator books a time that is not one of the department's slots."),
    )
    slot = models.ForeignKey(
        "ReferralSlot", verbose_name=_("slot"), null=True, blank=True, on_delete=models.PROTECT, related_name="referrals"
    )
    redirected_from = models.ForeignKey(
        "self", verbose_name=_("redirected from"), null=True, blank=True, on_delete=models.PROTECT, related_name="redirects"
    )
    upward_referral = models.ForeignKey(
        "self",
        verbose_name=_("upward referral"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="downward_referrals",
        help_text=_("For a downward referral at discharge: the upward referral that brought the patient."),
    )
    discharge_summary = models.TextField(_("discharge summary"), blank=True)
    discharge_data = models.JSONField(
        _("structured discharge data"),
        default=dict,
        blank=True,
        help_text=_("For a downward referral: admission and discharge dates, discharge diagnoses, medicines, instructions."),
    )
    escalation_level = models.PositiveSmallIntegerField(
        _("escalation level"), default=0, help_text=_("0: none, 1: coordinators notified, 2: hospital administrators notified.")
    )
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
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
            # The coordinator's queue: undecided referrals of one institution by due time, read in index order.
            models.Index(
                fields=["to_institution", "due_at", "id"],
                condition=Q(status__in=["submitted", "under_review"]),
                name="referral_queue_due_idx",
            ),
            models.Index(fields=["from_institution", "-created_at"], name="referral_sent_recent_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} → {self.to_institution}"

    @property
    def is_overdue(self) -> bool:
        return self.status in AWAITING_DECISION and self.due_at is not None and self.due_at < timezone.now()


class ReferralQueueVersion(models.Model):
    """A number that moves on whenever a referral to the institution is saved or deleted.

    Totals of the institution's queue are cached under it (``selectors.queue_rows``): counting
    thousands of waiting referrals cost more than reading a page of them, and the number says
    exactly when a cached total is out of date.
    """

    institution = models.OneToOneField(
        Institution,
        verbose_name=_("institution"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="referral_queue_version",
    )
    version = models.PositiveBigIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("referral queue version")
        verbose_name_plural = _("referral queue versions")

    def __str__(self):
        return f"{self.institution_id}: {self.version}"


class ReferralEvent(models.Model):
    """One step on a referral's timeline."""

    referral = models.ForeignKey(Referral, verbose_name=_("referral"), on_delete=models.CASCADE, related_name="events")
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(_("from status"), max_length=16, choices=ReferralStatus.choices, blank=True)
    to_status = models.CharField(_("to status"), max_length=16, choices=ReferralStatus.choices)
    action = models.CharField(_("action"), max_length=32, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("referral event")
        verbose_name_plural = _("referral events")
        ordering = ["occurred_at", "pk"]

    def __str__(self):
        return f"{self.from_status or '-'} → {self.to_status}"


class ReferralDueTimePolicy(models.Model):
    """How long the receiving side has to decide, per urgency, and when escalation and expiry follow.

    One row per consortium; a consortium without a row uses :attr:`DEFAULTS`.
    """

    DEFAULTS = {
        "routine_hours": 72,
        "urgent_hours": 24,
        "emergency_hours": 2,
        "administrator_after_hours": 24,
        "expire_after_hours": 72,
    }

    consortium = models.OneToOneField(
        Consortium, verbose_name=_("consortium"), on_delete=models.CASCADE, related_name="referral_due_time_policy"
    )
    routine_hours = models.PositiveIntegerField(_("routine: hours to decide"), default=DEFAULTS["routine_hours"])
    urgent_hours = models.PositiveIntegerField(_("urgent: hours to decide"), default=DEFAULTS["urgent_hours"])
    emergency_hours = models.PositiveIntegerField(_("emergency: hours to decide"), default=DEFAULTS["emergency_hours"])
    administrator_after_hours = models.PositiveIntegerField(
        _("hours past due before the hospital administrator is alerted"), default=DEFAULTS["administrator_after_hours"]
    )
    expire_after_hours = models.PositiveIntegerField(
        _("hours past due before an undecided referral expires"), default=DEFAULTS["expire_after_hours"]
    )

    class Meta:
        verbose_name = _("referral due-time policy")
        verbose_name_plural = _("referral due-time policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(routine_hours__gt=0, urgent_hours__gt=0, emergency_hours__gt=0),
                name="referral_policy_positive_due_hours",
            ),
            models.CheckConstraint(
                condition=Q(expire_after_hours__gt=F("administrator_after_hours")),
                name="referral_policy_expiry_after_escalation",
            ),
        ]

    def __str__(self):
        return str(self.consortium)

    def due_delta(self, urgency: str) -> datetime.timedelta:
        return datetime.timedelta(hours=getattr(self, f"{urgency}_hours"))


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class SlotSchedule(models.Model):
    """A weekly template of referral capacity: every ``weekday`` at ``starts_at`` (Beijing time), ``capacity`` places.

    :func:`referrals.services.generate_scheduled_slots` turns the templates into slots some weeks ahead.
    """

    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.CASCADE, related_name="slot_schedules"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    starts_at = models.TimeField(_("starts at"))
    capacity = models.PositiveSmallIntegerField(_("capacity"), validators=[MinValueValidator(1)])
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("weekly slot schedule")
        verbose_name_plural = _("weekly slot schedules")
        ordering = ["department", "weekday", "starts_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["department", "weekday", "starts_at"], name="slot_schedule_unique_time"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="slot_schedule_capacity_positive"),
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="slot_schedule_weekday_range"),
        ]

    def __str__(self):
        return f"{self.department} {self.get_weekday_display()} {self.starts_at:%H:%M}"


class ReferralSlot(models.Model):
    """Capacity a department opens for referred patients: ``capacity`` appointments starting at ``starts_at``."""

    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.CASCADE, related_name="referral_slots"
    )
    starts_at = models.DateTimeField(_("starts at"))
    capacity = models.PositiveSmallIntegerField(_("capacity"), validators=[MinValueValidator(1)])
    booked = models.PositiveSmallIntegerField(_("booked"), default=0)
    schedule = models.ForeignKey(
        SlotSchedule, verbose_name=_("weekly schedule"), null=True, blank=True, on_delete=models.SET_NULL, related_name="slots"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("opened by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("referral slot")
        verbose_name_plural = _("referral slots")
        ordering = ["starts_at", "pk"]
        indexes = [models.Index(fields=["department", "starts_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="referral_slot_capacity_positive"),
            models.CheckConstraint(condition=Q(booked__lte=F("capacity")), name="referral_slot_never_overbooked"),
            models.UniqueConstraint(
                fields=["schedule", "starts_at"], condition=Q(schedule__isnull=False), name="referral_slot_once_per_schedule"
            ),
        ]

    def __str__(self):
        return f"{self.department} {timezone.localtime(self.starts_at):%Y-%m-%d %H:%M}"

    @property
    def free(self) -> int:
        return self.capacity - self.booked


def attachment_path(instance, filename: str) -> str:
    return f"referrals/{timezone.now():%Y/%m}/{instance.referral_id}-{instance.sha256[:16]}{instance.extension}"


class ReferralAttachment(models.Model):
    """A PDF or image sent with a referral; the type is taken from the file's content, not its name."""

    referral = models.ForeignKey(Referral, verbose_name=_("referral"), on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to=attachment_path)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=64)
    size = models.PositiveIntegerField(_("size in bytes"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["pk"]

    def __str__(self):
        return self.original_name

    @property
    def extension(self) -> str:
        return {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg"}.get(self.content_type, "")


class FollowUpKind(models.TextChoices):
    REVISIT = "revisit", _("Revisit")
    MEDICATION_REVIEW = "medication_review", _("Medication review")
    REHABILITATION = "rehabilitation", _("Rehabilitation session")


class FollowUpStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")


class FollowUpTask(models.Model):
    """One step of the follow-up plan that comes with a downward referral, for the receiving clinic."""

    referral = models.ForeignKey(Referral, verbose_name=_("referral"), on_delete=models.CASCADE, related_name="follow_up_tasks")
    kind = models.CharField(_("kind"), max_length=32, choices=FollowUpKind.choices)
    due_on = models.DateField(_("due on"))
    instructions = models.CharField(_("instructions"), max_length=300, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("done by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.TextField(_("outcome"), blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up task")
        verbose_name_plural = _("follow-up tasks")
        ordering = ["due_on", "pk"]
        indexes = [models.Index(fields=["status", "due_on"])]

    def __str__(self):
        return f"{self.get_kind_display()} {self.due_on:%Y-%m-%d}"

    @property
    def is_overdue(self) -> bool:
        return self.status == FollowUpStatus.OPEN and self.due_on < timezone.localdate()


class SatisfactionRating(models.Model):
    """The patient's satisfaction with a completed referral, recorded by the sending clinic."""

    referral = models.OneToOneField(Referral, verbose_name=_("referral"), on_delete=models.CASCADE, related_name="satisfaction")
    score = models.PositiveSmallIntegerField(_("score"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(_("comment"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("satisfaction rating")
        verbose_name_plural = _("satisfaction ratings")
        constraints = [models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="satisfaction_score_1_to_5")]

    def __str__(self):
        return f"{self.score}/5"


class Notification(models.Model):
    """A message for one user, shown in the app and also sent by email.

    Partitioned by month of ``created_at`` on PostgreSQL (``consortium.partitions``)."""

    PARTITION_BY, PARTITION_KEY = "created_at", "notification"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recipient"), on_delete=models.CASCADE, related_name="referral_notifications"
    )
    referral = models.ForeignKey(
        Referral, verbose_name=_("referral"), null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(_("text"), max_length=300)
    link = models.CharField(_("link"), max_length=200, blank=True)
    is_read = models.BooleanField(_("read"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "is_read"])]

    def __str__(self):
        return self.text
