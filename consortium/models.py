"""The consortium domain: institutions, the consortium and its memberships, staff and API clients."""

import datetime
import hashlib
import secrets

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models, router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import audit_chain
from .fields import EncryptedCharField

region_code_validator = RegexValidator(
    r"^[1-9]\d{5}$", _("A region code is the 6-digit administrative division code, e.g. 420525.")
)


class InstitutionLevel(models.TextChoices):
    VILLAGE_CLINIC = "village_clinic", _("Village clinic")
    TOWNSHIP_HEALTH_CENTRE = "township_health_centre", _("Township health centre")
    COUNTY_HOSPITAL = "county_hospital", _("County hospital")
    CITY_HOSPITAL = "city_hospital", _("City hospital")


PRIMARY_LEVELS = frozenset({InstitutionLevel.VILLAGE_CLINIC, InstitutionLevel.TOWNSHIP_HEALTH_CENTRE})
HOSPITAL_LEVELS = frozenset({InstitutionLevel.COUNTY_HOSPITAL, InstitutionLevel.CITY_HOSPITAL})
LEVEL_RANK = {
    InstitutionLevel.VILLAGE_CLINIC: 0,
    InstitutionLevel.TOWNSHIP_HEALTH_CENTRE: 1,
    InstitutionLevel.COUNTY_HOSPITAL: 2,
    InstitutionLevel.CITY_HOSPITAL: 3,
}


class InstitutionGrade(models.TextChoices):
    UNGRADED = "ungraded", _("Ungraded")
    PRIMARY = "primary", _("Grade I (primary)")
    SECONDARY = "secondary", _("Grade II (secondary)")
    SECONDARY_A = "secondary_a", _("Grade II-A")
    TERTIARY = "tertiary", _("Grade III (tertiary)")
    TERTIARY_A = "tertiary_a", _("Grade III-A")


class Institution(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    level = models.CharField(_("level"), max_length=32, choices=InstitutionLevel.choices)
    grade = models.CharField(_("grade"), max_length=16, choices=InstitutionGrade.choices, default=InstitutionGrade.UNGRADED)
    region_code = models.CharField(_("region code"), max_length=6, validators=[region_code_validator])
    is_rural = models.BooleanField(_("rural"), default=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("supervising institution"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supervised",
        help_text=_("For a village clinic, the township health centre that supervises it."),
    )
    address = models.CharField(_("address"), max_length=300, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")
        ordering = ["code"]

    def __str__(self):
        return self.name

    @property
    def is_primary(self) -> bool:
        return self.level in PRIMARY_LEVELS

    @property
    def is_hospital(self) -> bool:
        return self.level in HOSPITAL_LEVELS

    @property
    def level_rank(self) -> int:
        return LEVEL_RANK[self.level]


class Consortium(models.Model):
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    region_code = models.CharField(_("region code"), max_length=6, validators=[region_code_validator])
    description = models.TextField(_("description"), blank=True)
    institutions = models.ManyToManyField(Institution, through="Membership", related_name="consortia")

    class Meta:
        verbose_name = _("consortium")
        verbose_name_plural = _("consortia")
        ordering = ["code"]

    def __str__(self):
        return self.name


class MembershipRole(models.TextChoices):
    LEAD = "lead", _("Lead")
    MEMBER = "member", _("Member")


class MembershipQuerySet(models.QuerySet):
    def active(self, on=None):
        on = on or timezone.localdate()
        return self.filter(agreement_start__lte=on).filter(Q(agreement_end__isnull=True) | Q(agreement_end__gte=on))

    def co_members_of(self, institution_id: int, on=None):
        """Active memberships of every consortium the institution is an active member of (its own included)."""
        active = self.active(on)
        return active.filter(consortium_id__in=active.filter(institution_id=institution_id).values("consortium_id"))


class Membership(models.Model):
    consortium = models.ForeignKey(Consortium, verbose_name=_("consortium"), on_delete=models.CASCADE, related_name="memberships")
    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=MembershipRole.choices, default=MembershipRole.MEMBER)
    agreement_start = models.DateField(_("agreement start"))
    agreement_end = models.DateField(_("agreement end"), null=True, blank=True)
    agreement_reference = models.CharField(_("agreement reference"), max_length=64, blank=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["consortium", "institution__code"]
        constraints = [
            models.UniqueConstraint(fields=["consortium", "institution"], name="membership_unique_institution"),
            models.UniqueConstraint(fields=["consortium"], condition=Q(role="lead"), name="membership_one_lead_per_consortium"),
            models.CheckConstraint(
                condition=Q(agreement_end__isnull=True) | Q(agreement_end__gte=models.F("agreement_start")),
                name="membership_end_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.institution} @ {self.consortium}"

    def is_active_on(self, day) -> bool:
        return self.agreement_start <= day and (self.agreement_end is None or self.agreement_end >= day)


class Department(models.Model):
    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.CASCADE, related_name="departments"
    )
    code = models.CharField(_("code"), max_length=32)
    name = models.CharField(_("name"), max_length=100)
    accepts_referrals = models.BooleanField(_("accepts referrals"), default=False)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["institution__code", "code"]
        constraints = [models.UniqueConstraint(fields=["institution", "code"], name="department_unique_code")]

    def __str__(self):
        return f"{self.institution.name} · {self.name}"


class InsuranceOffice(models.Model):
    """A medical insurance agency (医保经办机构) serving one region."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    region_code = models.CharField(_("region code"), max_length=6, validators=[region_code_validator])

    class Meta:
        verbose_name = _("insurance office")
        verbose_name_plural = _("insurance offices")
        ordering = ["code"]

    def __str__(self):
        return self.name

    def covers_region(self, region_code: str) -> bool:
        """An office covers its own division and those under it (prefecture 4205 covers 420525)."""
        prefix = self.region_code.rstrip("0") or self.region_code
        if len(prefix) % 2:
            prefix += "0"
        return region_code.startswith(prefix)

    def covered_institutions(self) -> list[tuple[int, str]]:
        """``(pk, code)`` of the institutions in the office's region."""
        rows = Institution.objects.values_list("pk", "code", "region_code")
        return [(pk, code) for pk, code, region in rows if self.covers_region(region)]


class StaffRole(models.TextChoices):
    CLINIC_CLINICIAN = "clinic_clinician", _("Clinic clinician")
    CLINIC_CLERK = "clinic_clerk", _("Clinic clerk")
    REFERRAL_COORDINATOR = "referral_coordinator", _("Referral coordinator")
    HOSPITAL_ADMINISTRATOR = "hospital_administrator", _("Hospital administrator")
    INSURANCE_OFFICER = "insurance_officer", _("Insurance officer")
    CONSORTIUM_ADMINISTRATOR = "consortium_administrator", _("Consortium administrator")
    DIAGNOSTIC_READER = "diagnostic_reader", _("Diagnostic reader")
    PUBLIC_HEALTH_WORKER = "public_health_worker", _("Public health worker")
    PRIVACY_OFFICER = "privacy_officer", _("Privacy officer")


#: Roles that act for a whole consortium (``Staff.consortium``) rather than at one institution.
CONSORTIUM_ROLES = frozenset({StaffRole.CONSORTIUM_ADMINISTRATOR, StaffRole.PRIVACY_OFFICER})


class Staff(models.Model):
    """A person's working identity: who they are, where they work and in which role."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="staff")
    role = models.CharField(_("role"), max_length=32, choices=StaffRole.choices)
    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.SET_NULL, related_name="staff"
    )
    insurance_office = models.ForeignKey(
        InsuranceOffice, verbose_name=_("insurance office"), null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    consortium = models.ForeignKey(
        Consortium,
        verbose_name=_("consortium"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="administrators",
        help_text=_("For consortium administrators and privacy officers: the consortium they act for."),
    )
    display_name = models.CharField(_("display name"), max_length=64)
    title = models.CharField(_("title"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["institution__code", "display_name"]
        constraints = [
            models.CheckConstraint(
                name="staff_scope_matches_role",
                condition=(
                    Q(role="insurance_officer", insurance_office__isnull=False, institution__isnull=True)
                    | Q(role__in=["consortium_administrator", "privacy_officer"], consortium__isnull=False)
                    | (
                        ~Q(role__in=["insurance_officer", "consortium_administrator", "privacy_officer"])
                        & Q(institution__isnull=False)
                    )
                ),
            )
        ]

    def __str__(self):
        return f"{self.display_name} ({self.get_role_display()})"


class ApiClientKind(models.TextChoices):
    INSURANCE_OFFICE = "insurance_office", _("Insurance office")
    MEMBER_SYSTEM = "member_system", _("Member institution system")


def hash_api_token(token: str) -> str:
    """Tokens are 256 random bits, so one SHA-256 pass is enough: nothing to guess from the hash."""
    return hashlib.sha256(token.encode()).hexdigest()


#: Defaults of the token settings (``API_TOKEN_LIFETIME_DAYS``, ``API_TOKEN_ROTATION_OVERLAP_HOURS``).
DEFAULT_TOKEN_LIFETIME_DAYS = 365
DEFAULT_TOKEN_ROTATION_OVERLAP_HOURS = 24


def token_lifetime() -> datetime.timedelta:
    return datetime.timedelta(days=float(getattr(settings, "API_TOKEN_LIFETIME_DAYS", DEFAULT_TOKEN_LIFETIME_DAYS)))


def token_rotation_overlap() -> datetime.timedelta:
    hours = getattr(settings, "API_TOKEN_ROTATION_OVERLAP_HOURS", DEFAULT_TOKEN_ROTATION_OVERLAP_HOURS)
    return datetime.timedelta(hours=float(hours))


def default_token_expiry() -> datetime.datetime:
    return timezone.now() + token_lifetime()


class ApiClient(models.Model):
    """A machine client of the API, holding a bearer token: only its hash is stored, it expires and rotates.

    Issued, rotated and revoked only through ``consortium.tokens`` (the admin shows clients read-only).
    After a rotation the previous token keeps working until ``previous_token_valid_until`` (the
    overlap, ``API_TOKEN_ROTATION_OVERLAP_HOURS``, 0 revokes it at once), so a member system can
    switch without an outage.
    """

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=32, choices=ApiClientKind.choices)
    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), null=True, blank=True, on_delete=models.CASCADE, related_name="api_clients"
    )
    insurance_office = models.ForeignKey(
        InsuranceOffice,
        verbose_name=_("insurance office"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_clients",
    )
    token_prefix = models.CharField(_("token prefix"), max_length=8, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), default=default_token_expiry)
    rotated_at = models.DateTimeField(_("rotated at"), null=True, blank=True, editable=False)
    previous_token_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    previous_token_valid_until = models.DateTimeField(_("previous token valid until"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                name="api_client_owner_matches_kind",
                condition=Q(kind="insurance_office", insurance_office__isnull=False, institution__isnull=True)
                | Q(kind="member_system", institution__isnull=False, insurance_office__isnull=True),
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.token_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def is_expired(self) -> bool:
        return self.revoked_at is None and self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def previous_token_active(self) -> bool:
        return bool(
            self.revoked_at is None
            and self.previous_token_hash
            and self.previous_token_valid_until
            and self.previous_token_valid_until > timezone.now()
        )

    @property
    def owner(self):
        return self.institution or self.insurance_office

    def issue_token(self) -> str:
        """Set a fresh token and return it; it is shown once and only its hash is kept."""
        token = secrets.token_urlsafe(32)
        self.token_prefix = token[:8]
        self.token_hash = hash_api_token(token)
        return token


class AppendOnlyError(Exception):
    """An audit row was about to be changed or deleted; the trail only grows."""


class ChainedQuerySet(models.QuerySet):
    """Rows of the audit trail: inserted sealed (``bulk_create`` too), never updated or deleted."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        with transaction.atomic(using=self.db):
            seal_chained_rows(objs, using=self.db)
            return super().bulk_create(objs, *args, **kwargs)

    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model._meta.label} rows are never updated")

    def delete(self):
        raise AppendOnlyError(f"{self.model._meta.label} rows are never deleted")


class ChainedRecord(models.Model):
    """A row of the append-only, hash-chained audit trail (``consortium.audit_chain``).

    ``CHAIN_FIELDS`` name what the row's HMAC covers; the chain fields are set when it is sealed.
    """

    CHAIN_FIELDS: tuple[str, ...] = ()
    #: On PostgreSQL the chain's place is unique per month partition (``consortium.partitions``): a
    #: month's rows all live in its one partition, so that is the same rule as the model's constraint.
    PARTITION_LOCAL_UNIQUE = audit_chain.PARTITION_PLACE

    chain_period = models.CharField(_("chain month"), max_length=7, editable=False, default="")
    chain_seq = models.BigIntegerField(_("chain number"), editable=False, default=0)
    prev_hash = models.CharField(_("previous seal"), max_length=64, editable=False, default="")
    row_hash = models.CharField(_("seal"), max_length=64, editable=False, default="")

    objects = ChainedQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding or self.row_hash:
            raise AppendOnlyError(f"{self._meta.label} rows are never changed")
        using = kwargs.get("using") or router.db_for_write(type(self))
        with transaction.atomic(using=using):
            seal_chained_rows([self], using=using)
            super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{self._meta.label} rows are never deleted")


class AuditChainHead(models.Model):
    """The head of one month's audit chain: how many rows it holds and the seal of the last one.

    Locked by every append of the month; kept when the month's rows are archived, so what was
    archived stays verifiable (``docs/AUDIT.md``).  ``mac`` seals the head itself.
    """

    period = models.CharField(_("chain month"), max_length=7, unique=True)
    count = models.BigIntegerField(_("rows"), default=0)
    last_hash = models.CharField(_("last seal"), max_length=64)
    mac = models.CharField(_("head seal"), max_length=64)
    archived_at = models.DateTimeField(
        _("rows archived at"), null=True, blank=True, help_text=_("The month's rows were exported and removed; the head stays.")
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("audit chain head")
        verbose_name_plural = _("audit chain heads")
        ordering = ["period"]

    def __str__(self):
        return f"{self.period}: {self.count}"


def _lock_chain_head(period: str, using: str) -> AuditChainHead:
    heads = AuditChainHead.objects.db_manager(using)
    head = heads.select_for_update().filter(period=period).first()
    if head is None:
        genesis = audit_chain.genesis_hash(period)
        heads.bulk_create(
            [AuditChainHead(period=period, count=0, last_hash=genesis, mac=audit_chain.head_mac(period, 0, genesis))],
            ignore_conflicts=True,
        )
        head = heads.select_for_update().get(period=period)
    return head


def seal_chained_rows(objs: list, *, using: str) -> None:
    """Give each unsaved row its place in its month's chain (:mod:`consortium.audit_chain`); the caller
    inserts them in the same transaction, which keeps the month's head locked until it commits."""
    if not objs:
        return
    if not transaction.get_connection(using).in_atomic_block:
        raise RuntimeError("audit rows are sealed inside the transaction that inserts them")
    label = objs[0]._meta.label_lower
    by_period: dict[str, list] = {}
    for obj in objs:
        if obj.row_hash:
            raise AppendOnlyError("an audit row is sealed once")
        by_period.setdefault(audit_chain.period_of(obj.occurred_at), []).append(obj)
    for period in sorted(by_period):  # one order for every transaction: no deadlock across months
        head = _lock_chain_head(period, using)
        count, last = head.count, head.last_hash
        for obj in by_period[period]:
            count += 1
            obj.chain_period, obj.chain_seq, obj.prev_hash = period, count, last
            obj.row_hash = last = audit_chain.row_mac(label, period, count, last, audit_chain.chain_values(obj))
        head.count, head.last_hash, head.mac = count, last, audit_chain.head_mac(period, count, last)
        head.save(update_fields=["count", "last_hash", "mac", "updated_at"])


class AuditEvent(ChainedRecord):
    """An append-only record of a state change or sensitive action, written in the same transaction
    and sealed into the audit chain."""

    CHAIN_FIELDS = ("occurred_at", "actor", "api_client", "action", "object_type", "object_id", "institution", "detail")
    PARTITION_BY, PARTITION_KEY = "occurred_at", "audit_event"  # monthly partitions on PostgreSQL (consortium.partitions)

    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("actor"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(_("action"), max_length=64)
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64)
    institution = models.ForeignKey(Institution, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["chain_period", "chain_seq"], condition=~Q(chain_period=""), name="audit_event_unique_chain_place"
            )
        ]

    def __str__(self):
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.action} {self.object_type}#{self.object_id}"


class OutboxEventType(models.TextChoices):
    ENCOUNTER = "encounter", _("Encounter recorded")
    REFERRAL = "referral", _("Referral changed")
    DISCHARGE = "discharge", _("Discharge with downward referral")
    CLAIM = "claim", _("Claim changed")
    DIAGNOSTIC_ORDER = "diag_order", _("Diagnostic order changed")
    DIAGNOSTIC_REPORT = "diag_report", _("Diagnostic report issued")
    CRITICAL_VALUE = "critical_value", _("Critical value changed")
    CONSULTATION = "consultation", _("Remote consultation changed")
    CHRONIC = "chronic", _("Chronic care changed")


class OutboxEvent(models.Model):
    """A fact other systems must learn about, written in the same transaction as the change.

    The outbox, not the broker, is the source of truth: a Celery task delivers pending
    events and a beat task re-enqueues anything left undelivered.

    Partitioned by month of ``created_at`` on PostgreSQL (``consortium.partitions``); the database's
    primary key there is ``(id, created_at)``.  A month with an undispatched event is never archived.
    """

    PARTITION_BY, PARTITION_KEY = "created_at", "outbox"
    PARTITION_HOLD = Q(dispatched_at__isnull=True)

    # Not indexed on its own: a landed batch writes thousands of events with one created_at, and an
    # index on it alone lures the planner away from the primary key (id, created_at) for every lookup
    # of one event (dispatch's UPDATE, the deliveries' foreign-key checks), scanning the whole batch.
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    event_type = models.CharField(_("event type"), max_length=16, choices=OutboxEventType.choices)
    aggregate_type = models.CharField(_("object type"), max_length=32)
    aggregate_id = models.CharField(_("object id"), max_length=64)
    patient_id = models.BigIntegerField(_("patient"), null=True, blank=True, db_index=True)
    institution = models.ForeignKey(
        Institution, verbose_name=_("source institution"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    fhir = models.JSONField(_("FHIR message"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["aggregate_type", "aggregate_id"]),
            # Only the undispatched events, in order: what dispatch takes, and what holds a month from archiving.
            models.Index(fields=["id"], condition=Q(dispatched_at__isnull=True), name="outbox_undispatched_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.aggregate_type}#{self.aggregate_id}"


class MachineAccessKind(models.TextChoices):
    """Changes to machine access: API tokens (kernel) and push endpoints (``sync`` executes those)."""

    TOKEN_CREATE = "token_create", _("Issue an API token")
    TOKEN_ROTATE = "token_rotate", _("Rotate an API token")
    TOKEN_REVOKE = "token_revoke", _("Revoke an API token")
    ENDPOINT_REGISTER = "endpoint_register", _("Register a push endpoint")
    ENDPOINT_CHANGE = "endpoint_change", _("Change a push endpoint")
    ENDPOINT_DEACTIVATE = "endpoint_deactivate", _("Deactivate a push endpoint")


class MachineAccessStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved and carried out")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class MachineAccessRequest(models.Model):
    """A consortium administrator's change to a member's tokens or endpoints, carried out only when a
    second administrator approves it (``consortium.approvals``).  ``payload`` holds the change's
    inputs (name, URL, events), never a token or a signing secret; a secret the approved change made
    waits in ``sealed_secret``, encrypted, for the requester to collect once."""

    kind = models.CharField(_("change"), max_length=32, choices=MachineAccessKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=MachineAccessStatus.choices, default=MachineAccessStatus.PENDING
    )
    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    insurance_office = models.ForeignKey(
        InsuranceOffice, verbose_name=_("insurance office"), null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    api_client = models.ForeignKey(
        ApiClient, verbose_name=_("API client"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: The sync endpoint a change is about, or the one an approved registration created (sync is a higher floor).
    endpoint_id = models.BigIntegerField(_("endpoint"), null=True, blank=True)
    payload = models.JSONField(_("details"), default=dict, blank=True)
    reason = models.TextField(_("reason"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    #: The token or signing secret an approved change made, sealed (AES-GCM) until its requester
    #: collects it once (``approvals.collect_machine_access_secret``), then emptied.
    sealed_secret = EncryptedCharField(_("sealed secret"), max_length=200, blank=True, default="")
    secret_collected_at = models.DateTimeField(_("secret collected at"), null=True, blank=True)

    class Meta:
        verbose_name = _("machine access request")
        verbose_name_plural = _("machine access requests")
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                name="machine_access_request_has_owner",
                condition=Q(institution__isnull=False) | Q(insurance_office__isnull=False),
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def owner(self):
        return self.institution or self.insurance_office


class Secondment(models.Model):
    """A hospital physician stationed at a member's primary-level institution for a period (下派医师).

    Recorded by the consortium's administrator; counted by the dashboard for each month the
    secondment covers. The physician need not have an account of the platform.
    """

    consortium = models.ForeignKey(Consortium, verbose_name=_("consortium"), on_delete=models.PROTECT, related_name="+")
    physician_name = models.CharField(_("physician"), max_length=100)
    specialty = models.CharField(_("specialty"), max_length=100, blank=True)
    from_institution = models.ForeignKey(
        Institution, verbose_name=_("seconded from"), on_delete=models.PROTECT, related_name="secondments_out"
    )
    to_institution = models.ForeignKey(
        Institution, verbose_name=_("seconded to"), on_delete=models.PROTECT, related_name="secondments_in"
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("secondment")
        verbose_name_plural = _("secondments")
        ordering = ["-starts_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")), name="secondment_end_after_start"
            )
        ]

    def __str__(self):
        return f"{self.from_institution_id} → {self.to_institution_id} {self.starts_on}"
