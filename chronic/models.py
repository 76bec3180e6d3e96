"""Chronic care: programmes as versioned data, enrolments, follow-ups, family-doctor teams and contracts."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consortium.models import Consortium, Institution, Staff
from records.models import Encounter, Patient


class Programme(models.Model):
    """A chronic-disease programme of a consortium (hypertension, type 2 diabetes, ...); its rules live in versions."""

    consortium = models.ForeignKey(Consortium, verbose_name=_("consortium"), on_delete=models.PROTECT, related_name="+")
    code = models.SlugField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["consortium", "code"], name="programme_unique_code")]

    def __str__(self):
        return self.name


class ProgrammeVersion(models.Model):
    """One version of a programme's rules (see ``chronic/rules.py``); once used it is never edited in place."""

    programme = models.ForeignKey(Programme, verbose_name=_("programme"), on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    rules = models.JSONField(_("rules"))
    note = models.CharField(_("what changed"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("programme version")
        verbose_name_plural = _("programme versions")
        ordering = ["programme", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "number"], name="programme_version_unique_number"),
            # The target of the enrolments' composite (version, programme) foreign key (migration 0002).
            models.UniqueConstraint(fields=["id", "programme"], name="programme_version_unique_id_programme"),
        ]

    def __str__(self):
        return f"{self.programme} v{self.number}"


class EnrolmentStatus(models.TextChoices):
    CANDIDATE = "candidate", pgettext_lazy("chronic", "Candidate")
    ENROLLED = "enrolled", _("Enrolled")
    DECLINED = "declined", _("Not enrolled")
    DISCHARGED = "discharged", _("Left the programme")


class EnrolmentSource(models.TextChoices):
    SCREENING = "screening", _("Found by screening")
    DISCHARGE = "discharge", _("Discharged from hospital")
    MANUAL = "manual", _("Added by staff")


class Control(models.TextChoices):
    CONTROLLED = "controlled", _("Controlled")
    UNCONTROLLED = "uncontrolled", _("Uncontrolled")
    DANGER = "danger", _("Danger value")


class Team(models.Model):
    """A family-doctor team (家庭医生团队) of an institution: a doctor, village doctors, a nurse or public-health worker."""

    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=100)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("family-doctor team")
        verbose_name_plural = _("family-doctor teams")
        ordering = ["institution", "name"]
        constraints = [models.UniqueConstraint(fields=["institution", "name"], name="team_unique_name")]

    def __str__(self):
        return self.name


class TeamRole(models.TextChoices):
    DOCTOR = "doctor", _("Family doctor")
    VILLAGE_DOCTOR = "village_doctor", _("Village doctor")
    NURSE = "nurse", _("Nurse")
    PUBLIC_HEALTH = "public_health", _("Public health worker")


class TeamMember(models.Model):
    team = models.ForeignKey(Team, verbose_name=_("team"), on_delete=models.CASCADE, related_name="members")
    staff = models.ForeignKey(Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="chronic_teams")
    role = models.CharField(_("role in the team"), max_length=16, choices=TeamRole.choices)

    class Meta:
        verbose_name = _("team member")
        verbose_name_plural = _("team members")
        ordering = ["team", "role", "pk"]
        constraints = [models.UniqueConstraint(fields=["team", "staff"], name="team_member_unique")]

    def __str__(self):
        return f"{self.staff} ({self.get_role_display()})"


class Enrolment(models.Model):
    """A patient in a programme at an institution: a candidate from screening until the township decides."""

    # The screening writes a county's candidates in one statement, so every index and foreign-key check
    # here is paid once per candidate (bench/chronic): only the indexes that a page or query reads are
    # kept. The patient is led by the unique (patient, programme) index; the institution and the team
    # by the composite indexes below. Programme and version are checked together by one composite
    # foreign key on PostgreSQL (migration 0002: the version must be one of the programme's).
    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="chronic_enrolments", db_index=False
    )
    programme = models.ForeignKey(
        Programme,
        verbose_name=_("programme"),
        on_delete=models.PROTECT,
        related_name="enrolments",
        db_index=False,
        db_constraint=False,
    )
    version = models.ForeignKey(
        ProgrammeVersion,
        verbose_name=_("programme version"),
        on_delete=models.PROTECT,
        related_name="enrolments",
        db_constraint=False,
    )  # indexed: services.version_is_used asks whether any enrolment has it
    institution = models.ForeignKey(
        Institution,
        verbose_name=_("managing institution"),
        on_delete=models.PROTECT,
        related_name="chronic_enrolments",
        db_index=False,
    )
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="enrolments",
        db_index=False,
    )
    status = models.CharField(_("status"), max_length=16, choices=EnrolmentStatus.choices, default=EnrolmentStatus.CANDIDATE)
    source = models.CharField(_("found by"), max_length=16, choices=EnrolmentSource.choices, default=EnrolmentSource.SCREENING)
    # A pointer into the records for the reviewer, set by the screening from the visits it read; visits are
    # never deleted, and Django's collector still nulls it if one were. No index (nothing reads by it)
    # and no database constraint (a check per candidate for a visit the same statement just read).
    source_encounter = models.ForeignKey(
        Encounter,
        verbose_name=_("visit it was found in"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    risk_level = models.CharField(_("risk level"), max_length=32, blank=True)
    last_control = models.CharField(_("last control"), max_length=16, choices=Control.choices, blank=True)
    next_due_on = models.DateField(_("next follow-up due"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    medication_plan = models.TextField(_("medication plan"), blank=True)
    returned_at = models.DateTimeField(_("returned from hospital at"), null=True, blank=True)
    returned_from_referral = models.BigIntegerField(_("discharge referral"), null=True, blank=True)
    found_at = models.DateTimeField(_("found at"), default=timezone.now)
    enrolled_on = models.DateField(_("enrolled on"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        verbose_name = pgettext_lazy("chronic", "enrolment")
        verbose_name_plural = pgettext_lazy("chronic", "enrolments")
        ordering = ["next_due_on", "pk"]
        constraints = [models.UniqueConstraint(fields=["patient", "programme"], name="enrolment_unique_patient_programme")]
        indexes = [
            models.Index(fields=["institution", "status"]),
            # Panels and worklists read by team; candidates have none, so the screening does not write here.
            models.Index(fields=["team", "status", "next_due_on"], condition=Q(team__isnull=False), name="enrolment_team_due"),
        ]

    def __str__(self):
        return f"{self.programme} · {self.patient_id}"


class FollowUpStatus(models.TextChoices):
    DUE = "due", pgettext_lazy("follow-up", "Due")
    DONE = "done", pgettext_lazy("follow-up", "Done")
    MISSED = "missed", _("Missed")


class FollowUpMethod(models.TextChoices):
    CLINIC = "clinic", _("At the clinic")
    HOME = "home", _("Home visit")
    PHONE = "phone", _("By phone")


class FollowUp(models.Model):
    """One scheduled follow-up of an enrolment; done at the clinic or at home, it links the visit it was."""

    enrolment = models.ForeignKey(
        Enrolment, verbose_name=pgettext_lazy("chronic", "enrolment"), on_delete=models.CASCADE, related_name="follow_ups"
    )
    version = models.ForeignKey(
        ProgrammeVersion, verbose_name=_("programme version"), on_delete=models.PROTECT, related_name="follow_ups"
    )
    due_on = models.DateField(pgettext_lazy("follow-up", "due on"))
    status = models.CharField(_("status"), max_length=8, choices=FollowUpStatus.choices, default=FollowUpStatus.DUE)
    done_on = models.DateField(_("done on"), null=True, blank=True)
    method = models.CharField(_("how"), max_length=8, choices=FollowUpMethod.choices, blank=True)
    encounter = models.OneToOneField(
        Encounter, verbose_name=_("visit"), null=True, blank=True, on_delete=models.PROTECT, related_name="chronic_follow_up"
    )
    measurements = models.JSONField(_("measurements"), default=dict, blank=True)
    control = models.CharField(_("control"), max_length=16, choices=Control.choices, blank=True)
    risk_level = models.CharField(_("risk level"), max_length=32, blank=True)
    trigger = models.CharField(_("referral trigger"), max_length=16, blank=True)
    referral_proposed = models.BooleanField(_("referral proposed"), default=False)
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_on", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["enrolment"], condition=Q(status="due"), name="follow_up_one_due_per_enrolment"),
        ]
        indexes = [models.Index(fields=["status", "due_on"]), models.Index(fields=["enrolment", "done_on"])]

    def __str__(self):
        return f"{self.enrolment_id} @ {self.due_on}"


class ContractKind(models.TextChoices):
    RESIDENT = "resident", _("One resident")
    HOUSEHOLD = "household", _("Household")


class ServicePackage(models.TextChoices):
    BASIC = "basic", _("Basic package")
    CHRONIC = "chronic", _("Chronic disease package")
    ELDERLY = "elderly", _("Elderly care package")
    MATERNAL_CHILD = "maternal_child", _("Maternal and child package")


class ContractStatus(models.TextChoices):
    SIGNED = "signed", _("Signed")
    RENEWED = "renewed", _("Renewed")
    ENDED = "ended", _("Ended")


class SignatureMethod(models.TextChoices):
    HANDWRITTEN = "handwritten", _("Handwritten signature")
    FINGERPRINT = "fingerprint", _("Fingerprint")
    ELECTRONIC = "electronic", _("Electronic signature")


class Contract(models.Model):
    """A family-doctor contract (家庭医生签约) of a resident or a household with a team."""

    team = models.ForeignKey(Team, verbose_name=_("team"), on_delete=models.PROTECT, related_name="contracts")
    holder = models.ForeignKey(Patient, verbose_name=_("signed by"), on_delete=models.PROTECT, related_name="chronic_contracts")
    members = models.ManyToManyField(Patient, verbose_name=_("covered residents"), related_name="chronic_covering_contracts")
    kind = models.CharField(_("kind"), max_length=16, choices=ContractKind.choices, default=ContractKind.RESIDENT)
    package = models.CharField(_("service package"), max_length=16, choices=ServicePackage.choices)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    status = models.CharField(_("status"), max_length=8, choices=ContractStatus.choices, default=ContractStatus.SIGNED)
    signature_method = models.CharField(_("signature"), max_length=16, choices=SignatureMethod.choices)
    signed_at = models.DateTimeField(pgettext_lazy("contract", "signed at"), default=timezone.now)
    signed_by_staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("witnessed by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    renewed_from = models.OneToOneField(
        "self", verbose_name=_("renewal of"), null=True, blank=True, on_delete=models.PROTECT, related_name="renewal"
    )
    ended_reason = models.CharField(_("why it ended"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("family-doctor contract")
        verbose_name_plural = _("family-doctor contracts")
        ordering = ["-starts_on", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gt=models.F("starts_on")), name="contract_ends_after_start"),
        ]
        indexes = [models.Index(fields=["team", "status"])]

    def __str__(self):
        return f"{self.team} · {self.holder_id} ({self.starts_on}–{self.ends_on})"


class EventCursor(models.Model):
    """How far chronic care has read a stream of outbox events (the discharges it brings back down)."""

    name = models.CharField(_("name"), max_length=32, unique=True)
    last_event_id = models.BigIntegerField(_("last event read"), default=0)

    class Meta:
        verbose_name = _("event cursor")
        verbose_name_plural = _("event cursors")

    def __str__(self):
        return f"{self.name} @ {self.last_event_id}"
