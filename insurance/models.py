"""Medical insurance: schemes, versioned policies, claims, batches, settlement files and reconciliation.

Every number the calculator uses lives in Policy and PolicyLevelRule rows; nothing is hard-coded.
Money is Decimal to the fen (two places); ratios are fractions with four places.
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from consortium.models import ApiClient, Consortium, Institution, InstitutionLevel, InsuranceOffice
from records.models import Encounter, Patient

ZERO = Decimal("0.00")
period_validator = RegexValidator(r"^\d{4}-(0[1-9]|1[0-2])$", _("A period is a month written YYYY-MM, e.g. 2026-03."))


def money_field(verbose_name, **kwargs):
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=2, **kwargs)


def ratio_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name,
        max_digits=5,
        decimal_places=4,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        **kwargs,
    )


#: The national schemes' names in the active language (a scheme's ``name`` is the office's own wording).
SCHEME_LABELS = {
    "URRBMI": _("Urban and rural residents' basic medical insurance"),
    "UEBMI": _("Employees' basic medical insurance"),
}


class Scheme(models.Model):
    """A basic medical insurance scheme, e.g. URRBMI (城乡居民医保) or UEBMI (职工医保)."""

    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("insurance scheme")
        verbose_name_plural = _("insurance schemes")
        ordering = ["code"]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def label(self) -> str:
        """The scheme's name as a page shows it: translated for the national schemes, else its own name."""
        known = SCHEME_LABELS.get(self.code)
        return str(known) if known else self.name


class OfficeScheme(models.Model):
    """Which schemes an insurance office administers; its API token sees only those schemes' claims."""

    office = models.ForeignKey(InsuranceOffice, verbose_name=_("insurance office"), on_delete=models.CASCADE, related_name="+")
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.CASCADE, related_name="offices")

    class Meta:
        verbose_name = _("office scheme")
        verbose_name_plural = _("office schemes")
        constraints = [models.UniqueConstraint(fields=["office", "scheme"], name="office_scheme_unique")]

    def __str__(self):
        return f"{self.office} · {self.scheme.code}"


class AssistanceGroup(models.TextChoices):
    """The registered groups medical assistance (医疗救助) pays for."""

    EXTREME_POVERTY = "extreme_poverty", _("Extreme poverty support (特困)")
    MINIMUM_LIVING = "minimum_living", _("Minimum living allowance (低保)")
    LOW_INCOME = "low_income", _("Low-income household (低收入)")
    RELAPSE_MONITORED = "relapse_monitored", _("Monitored for relapse into poverty (返贫监测)")


class Enrolment(models.Model):
    """A patient's enrolment in a scheme for one calendar year."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="enrolments")
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.PROTECT, related_name="enrolments")
    year = models.PositiveSmallIntegerField(_("year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)])
    insurance_number = models.CharField(_("insurance number"), max_length=32)
    special_disease = models.BooleanField(
        _("chronic/special-disease outpatient"),
        default=False,
        help_text=_(
            "Enrolled in chronic and special-disease outpatient (门诊慢特病): set by the insurance office, "
            "or through the hook a chronic-care programme registers (insurance.registry)."
        ),
    )
    assistance_group = models.CharField(_("medical assistance group"), max_length=24, choices=AssistanceGroup.choices, blank=True)
    household_number = models.CharField(_("household number"), max_length=32, blank=True)
    premium_paid = models.DecimalField(
        _("premium paid"), max_digits=10, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(0)]
    )
    premium_paid_on = models.DateField(_("premium paid on"), null=True, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enrolled by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    enrolled_at = models.DateTimeField(_("enrolled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        ordering = ["-year", "pk"]
        constraints = [models.UniqueConstraint(fields=["patient", "year"], name="enrolment_one_scheme_per_year")]

    def __str__(self):
        return f"{self.scheme.code} {self.year} #{self.patient_id}"


class PolicyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_FORCE = "in_force", _("In force")
    SUPERSEDED = "superseded", _("Superseded")


class Policy(models.Model):
    """The reimbursement rules of a scheme for a year, in numbered versions.

    Only a draft may be edited. Publishing puts a version in force and supersedes the one
    before it; claims keep a reference to the version they were calculated with.
    """

    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.PROTECT, related_name="policies")
    year = models.PositiveSmallIntegerField(_("year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)])
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    status = models.CharField(_("status"), max_length=16, choices=PolicyStatus.choices, default=PolicyStatus.DRAFT)
    class_b_self_pay_share = ratio_field(
        _("class B self-pay share"),
        default=Decimal("0.1000"),
        help_text=_("The share of a class B (乙) item the patient pays before the item becomes eligible."),
    )
    unreferred_deductible_carried = models.BooleanField(
        _("credit deductible on unreferred visits"),
        default=False,
        help_text=_("Whether a visit to a higher level without a referral is credited the deductible already paid this year."),
    )
    deductible_per_admission = models.BooleanField(
        _("inpatient deductible per admission"),
        default=False,
        help_text=_(
            "Each inpatient admission pays its level's deductible (a later admission its lower one, an in-county "
            "referral only the difference to the referring level's). Off: one deductible a year, credited across levels."
        ),
    )
    annual_ceiling = money_field(
        _("annual ceiling across all levels"),
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text=_("One ceiling for the scheme year at every level; blank: each level's own ceiling."),
    )
    out_of_county_reduction = ratio_field(
        _("out-of-county ratio reduction"),
        default=Decimal("0.0000"),
        help_text=_("Points taken off the ratio of an unreferred visit outside the patient's county, e.g. 0.1500."),
    )
    outpatient_pooling = models.BooleanField(_("outpatient pooling"), default=False)
    outpatient_deductible = money_field(_("outpatient deductible a year"), default=ZERO, validators=[MinValueValidator(ZERO)])
    outpatient_primary_ratio = ratio_field(_("outpatient ratio at primary level"), default=Decimal("0.0000"))
    outpatient_other_ratio = ratio_field(_("outpatient ratio above primary level"), default=Decimal("0.0000"))
    outpatient_annual_cap = money_field(_("outpatient cap a year"), default=ZERO, validators=[MinValueValidator(ZERO)])
    special_disease_ratio = ratio_field(_("chronic/special-disease outpatient ratio"), null=True, blank=True)
    special_disease_annual_cap = money_field(
        _("chronic/special-disease outpatient cap a year"), null=True, blank=True, validators=[MinValueValidator(ZERO)]
    )
    illness_threshold = money_field(
        _("critical-illness threshold a year"),
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text=_("Qualifying self-pay above this amount in the year is paid by critical-illness insurance."),
    )
    illness_annual_cap = money_field(
        _("critical-illness cap a year"), null=True, blank=True, validators=[MinValueValidator(ZERO)]
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True, editable=False)
    notes = models.TextField(_("notes"), blank=True)

    #: Fields copied into the next version (with the level, segment and assistance rows).
    NUMBER_FIELDS = (
        "class_b_self_pay_share",
        "unreferred_deductible_carried",
        "deductible_per_admission",
        "annual_ceiling",
        "out_of_county_reduction",
        "outpatient_pooling",
        "outpatient_deductible",
        "outpatient_primary_ratio",
        "outpatient_other_ratio",
        "outpatient_annual_cap",
        "special_disease_ratio",
        "special_disease_annual_cap",
        "illness_threshold",
        "illness_annual_cap",
        "notes",
    )

    class Meta:
        verbose_name = _("policy")
        verbose_name_plural = _("policies")
        ordering = ["scheme__code", "-year", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "year", "version"], name="policy_unique_version"),
            models.UniqueConstraint(fields=["scheme", "year"], condition=Q(status="in_force"), name="policy_one_in_force"),
            models.CheckConstraint(
                condition=Q(special_disease_ratio__isnull=True, special_disease_annual_cap__isnull=True)
                | Q(special_disease_ratio__isnull=False, special_disease_annual_cap__isnull=False),
                name="policy_special_disease_complete",
                violation_error_message=_("Give both the chronic/special-disease ratio and its cap, or neither."),
            ),
        ]

    def __str__(self):
        return f"{self.scheme.code} {self.year} v{self.version} ({self.get_status_display()})"

    def save(self, *args, **kwargs):
        """Refuse to change the numbers of a version that is or was in force (only its status moves on)."""
        update_fields = kwargs.get("update_fields")
        changes_numbers = update_fields is None or set(update_fields) - {"status", "published_at"}
        if (
            self.pk is not None
            and changes_numbers
            and Policy.objects.filter(pk=self.pk).exclude(status=PolicyStatus.DRAFT).exists()
        ):
            raise ValidationError(_("A policy that is or was in force cannot be changed; make a new version."))
        super().save(*args, **kwargs)

    @property
    def is_editable(self) -> bool:
        return self.status == PolicyStatus.DRAFT

    def rule_for(self, level: str) -> "PolicyLevelRule | None":
        return next((rule for rule in self.level_rules.all() if rule.level == level), None)


class PolicyLevelRule(models.Model):
    """Deductible, ratios and annual ceiling of one policy version at one institution level."""

    policy = models.ForeignKey(Policy, verbose_name=_("policy"), on_delete=models.CASCADE, related_name="level_rules")
    level = models.CharField(_("institution level"), max_length=32, choices=InstitutionLevel.choices)
    deductible = money_field(_("deductible"), validators=[MinValueValidator(ZERO)])
    ratio = ratio_field(_("reimbursement ratio"))
    unreferred_ratio = ratio_field(
        _("ratio without referral"),
        help_text=_("Applies to a visit above the patient's home level that came without a referral."),
    )
    annual_ceiling = money_field(_("annual ceiling"), validators=[MinValueValidator(ZERO)])
    later_admission_deductible = money_field(
        _("deductible of a later admission"),
        null=True,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text=_("The deductible of the second and later admissions of the year; blank: the same as the first."),
    )

    class Meta:
        verbose_name = _("level rule")
        verbose_name_plural = _("level rules")
        ordering = ["policy", "level"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "level"], name="policy_level_rule_unique"),
            models.CheckConstraint(
                condition=Q(unreferred_ratio__lte=models.F("ratio")),
                name="unreferred_ratio_not_above_ratio",
                violation_error_message=_("The ratio without referral may not be above the normal ratio."),
            ),
        ]

    def __str__(self):
        return f"{self.policy} · {self.get_level_display()}"

    def save(self, *args, **kwargs):
        if Policy.objects.filter(pk=self.policy_id).exclude(status=PolicyStatus.DRAFT).exists():
            raise ValidationError(_("A policy that is or was in force cannot be changed; make a new version."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if Policy.objects.filter(pk=self.policy_id).exclude(status=PolicyStatus.DRAFT).exists():
            raise ValidationError(_("A policy that is or was in force cannot be changed; make a new version."))
        return super().delete(*args, **kwargs)


class PolicyRow(models.Model):
    """A row of a policy version's numbers: writable only while the version is a draft."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self._refuse_if_published()
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_if_published()
        return super().delete(*args, **kwargs)

    def _refuse_if_published(self):
        if Policy.objects.filter(pk=self.policy_id).exclude(status=PolicyStatus.DRAFT).exists():
            raise ValidationError(_("A policy that is or was in force cannot be changed; make a new version."))


class PolicyIllnessSegment(PolicyRow):
    """One segment of critical-illness insurance: from an amount above the threshold, at a ratio."""

    policy = models.ForeignKey(Policy, verbose_name=_("policy"), on_delete=models.CASCADE, related_name="illness_segments")
    start = money_field(
        _("from (above the threshold)"),
        validators=[MinValueValidator(ZERO)],
        help_text=_("The segment runs from this amount above the threshold to the next segment's start."),
    )
    ratio = ratio_field(_("ratio"))

    class Meta:
        verbose_name = _("critical-illness segment")
        verbose_name_plural = _("critical-illness segments")
        ordering = ["policy", "start"]
        constraints = [models.UniqueConstraint(fields=["policy", "start"], name="policy_illness_segment_unique")]

    def __str__(self):
        return f"{self.policy} · {self.start}+ @ {self.ratio}"


class PolicyAssistanceRule(PolicyRow):
    """Medical assistance (医疗救助) for one registered group: ratio on the self-pay left, and a yearly cap."""

    policy = models.ForeignKey(Policy, verbose_name=_("policy"), on_delete=models.CASCADE, related_name="assistance_rules")
    group = models.CharField(_("group"), max_length=24, choices=AssistanceGroup.choices)
    ratio = ratio_field(_("ratio"))
    annual_cap = money_field(_("cap a year"), validators=[MinValueValidator(ZERO)])

    class Meta:
        verbose_name = _("medical assistance rule")
        verbose_name_plural = _("medical assistance rules")
        ordering = ["policy", "group"]
        constraints = [models.UniqueConstraint(fields=["policy", "group"], name="policy_assistance_rule_unique")]

    def __str__(self):
        return f"{self.policy} · {self.get_group_display()}"


class Accumulator(models.Model):
    """What a patient has used of a scheme in a year; locked with select_for_update by every claim write."""

    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="+")
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("year"))
    deductible_paid = money_field(_("deductible paid"), default=ZERO)
    reimbursed = money_field(_("reimbursed"), default=ZERO)
    admissions = models.PositiveSmallIntegerField(_("inpatient admissions"), default=0)
    outpatient_deductible_paid = money_field(_("outpatient deductible paid"), default=ZERO)
    outpatient_reimbursed = money_field(_("outpatient pooling paid"), default=ZERO)
    special_reimbursed = money_field(_("chronic/special-disease outpatient paid"), default=ZERO)
    illness_qualifying = money_field(_("qualifying self-pay"), default=ZERO)
    illness_paid = money_field(_("critical-illness insurance paid"), default=ZERO)
    assistance_paid = money_field(_("medical assistance paid"), default=ZERO)

    class Meta:
        verbose_name = _("annual accumulator")
        verbose_name_plural = _("annual accumulators")
        constraints = [
            models.UniqueConstraint(fields=["patient", "scheme", "year"], name="accumulator_unique"),
            models.CheckConstraint(condition=Q(deductible_paid__gte=0) & Q(reimbursed__gte=0), name="accumulator_not_negative"),
        ]

    def __str__(self):
        return f"{self.scheme_id}/{self.year} #{self.patient_id}"


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    APPROVED = "approved", _("Approved")
    PARTLY_APPROVED = "partly_approved", _("Partly approved")
    REJECTED = "rejected", _("Rejected")
    APPEALED = "appealed", _("Under appeal")
    SETTLED = "settled", _("Settled")
    RECONCILED = "reconciled", _("Reconciled")


#: The outcomes an adjudication gives a claim, in the order the API lists them (``AdjudicationOutcomeEnum``).
ADJUDICATION_OUTCOMES = (ClaimStatus.APPROVED, ClaimStatus.PARTLY_APPROVED, ClaimStatus.REJECTED)
ADJUDICATED = frozenset(ADJUDICATION_OUTCOMES)
#: Claims waiting for the office's decision: a period does not close while one is left.
AWAITING_ADJUDICATION = frozenset({ClaimStatus.DRAFT, ClaimStatus.SUBMITTED, ClaimStatus.APPEALED})
#: Claims that may be reversed, and that a settlement file reconciles.
REVERSIBLE = ADJUDICATED | {ClaimStatus.SETTLED, ClaimStatus.RECONCILED}


class ClaimKind(models.TextChoices):
    ORIGINAL = "original", _("Claim")
    REVERSAL = "reversal", _("Reversal")


class BatchStatus(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ADJUDICATED = "adjudicated", _("Adjudicated")


class ClaimBatch(models.Model):
    """The claims an institution submits for one scheme and period, together."""

    number = models.CharField(_("number"), max_length=64, unique=True)
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="+")
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("period"), max_length=7, validators=[period_validator])
    sequence = models.PositiveSmallIntegerField(_("sequence"), default=1)
    status = models.CharField(_("status"), max_length=16, choices=BatchStatus.choices, default=BatchStatus.SUBMITTED)
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now)
    claim_count = models.PositiveIntegerField(_("claims"), default=0)
    total_claimed = money_field(_("total claimed"), default=ZERO)

    class Meta:
        verbose_name = _("claim batch")
        verbose_name_plural = _("claim batches")
        ordering = ["-submitted_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["institution", "scheme", "period", "sequence"], name="batch_unique_seq")]

    def __str__(self):
        return self.number


class Claim(models.Model):
    """A reimbursement claim calculated from an encounter's charge items.

    The calculation is frozen on the claim (every step in ``steps``). A claim past adjudication
    is never edited: a correction is a reversal claim (negated amounts) plus a new claim.
    """

    number = models.CharField(_("number"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=ClaimKind.choices, default=ClaimKind.ORIGINAL)
    encounter = models.ForeignKey(Encounter, verbose_name=_("encounter"), on_delete=models.PROTECT, related_name="claims")
    patient = models.ForeignKey(Patient, verbose_name=_("patient"), on_delete=models.PROTECT, related_name="claims")
    institution = models.ForeignKey(
        Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="claims", db_index=False
    )
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.PROTECT, related_name="claims")
    policy = models.ForeignKey(Policy, verbose_name=_("policy"), on_delete=models.PROTECT, related_name="claims")
    insurance_number = models.CharField(_("insurance number"), max_length=32)
    period = models.CharField(_("period"), max_length=7, validators=[period_validator])
    status = models.CharField(_("status"), max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT)
    batch = models.ForeignKey(
        ClaimBatch, verbose_name=_("batch"), null=True, blank=True, on_delete=models.PROTECT, related_name="claims"
    )
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    replaces = models.ForeignKey(
        "self", verbose_name=_("replaces"), null=True, blank=True, on_delete=models.PROTECT, related_name="replacements"
    )
    level = models.CharField(_("institution level"), max_length=32, choices=InstitutionLevel.choices)
    referred = models.BooleanField(_("referred"), default=False)
    upward = models.BooleanField(_("above home level"), default=False)
    total = money_field(_("total charges"))
    eligible = money_field(_("eligible amount"))
    deductible_applied = money_field(_("deductible applied"))
    ratio = models.DecimalField(_("ratio applied"), max_digits=5, decimal_places=4)
    reimbursed = money_field(_("reimbursed amount"))
    self_pay = money_field(_("patient self-pay"))
    benefit = models.CharField(_("benefit"), max_length=16, default="level")
    out_of_county = models.BooleanField(_("outside the patient's county"), default=False)
    admission_number = models.PositiveSmallIntegerField(_("admission of the year"), null=True, blank=True)
    illness_counted = models.BooleanField(
        _("counts towards critical illness"),
        default=False,
        help_text=_("Whether the claim's qualifying self-pay was added to the year's critical-illness total."),
    )
    illness_paid = money_field(_("critical-illness insurance"), default=ZERO)
    assistance_paid = money_field(_("medical assistance"), default=ZERO)
    patient_pays = money_field(_("paid by the patient"), default=ZERO)
    steps = models.JSONField(_("calculation steps"), default=list)
    approved_amount = money_field(_("approved amount"), null=True, blank=True)
    reason_codes = models.JSONField(_("reason codes"), default=list, blank=True)
    settled_amount = money_field(_("settled amount"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    adjudicated_at = models.DateTimeField(_("adjudicated at"), null=True, blank=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    referral = models.ForeignKey(
        "referrals.Referral",
        verbose_name=_("referral"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The upward referral that made the visit a referred one."),
    )
    updated_at = models.DateTimeField(
        _("updated at"), default=timezone.now, db_index=True, help_text=_("When the claim last changed (for updated_since).")
    )

    class Meta:
        verbose_name = _("claim")
        verbose_name_plural = _("claims")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["institution", "period", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="reversal", reverses__isnull=False) | Q(kind="original", reverses__isnull=True),
                name="claim_reversal_has_original",
            ),
            models.CheckConstraint(
                condition=Q(kind="reversal") | (Q(reimbursed__gte=0) & Q(self_pay__gte=0)), name="claim_amounts_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(kind="reversal") | (Q(illness_paid__gte=0) & Q(assistance_paid__gte=0) & Q(patient_pays__gte=0)),
                name="claim_layers_not_negative",
            ),
        ]

    def __str__(self):
        return self.number

    @property
    def expected_payment(self) -> Decimal:
        """What the insurer should pay: the approved amount once adjudicated, else the calculated one."""
        return self.approved_amount if self.approved_amount is not None else self.reimbursed


def effective_claim() -> Q:
    """A claim that stands for its visit: an original claim neither rejected nor reversed.

    The reversal as NOT EXISTS, not ``reversal__isnull`` (a LEFT JOIN ... IS NULL): PostgreSQL
    estimated one row for that join and went on with nested loops over the rest, memberships times
    claims, so the dashboard roll-up grew with the square of the data (13.7 s a statement at 16 counties).
    ``reverses`` not null said again: otherwise the anti-join hashes the unique index's entry of
    every claim, null for all but the reversals (4.8 million at 16 counties, spilled in 32 batches).
    """
    reversals = Claim.objects.filter(reverses=OuterRef("pk"), reverses__isnull=False)
    return Q(kind=ClaimKind.ORIGINAL) & ~Q(status=ClaimStatus.REJECTED) & ~Q(Exists(reversals))


class ClaimLine(models.Model):
    """One charge item of a claim, with its share of the claimed payment and the office's decision on it.

    ``payable`` is the line's share of the claim's reimbursed amount (allocated by eligible amount,
    to the fen, the shares summing to the claim exactly); once adjudicated, ``approved_amount`` of
    the lines sums to the claim's approved amount.
    """

    claim = models.ForeignKey(Claim, verbose_name=_("claim"), on_delete=models.CASCADE, related_name="lines")
    sequence = models.PositiveSmallIntegerField(_("line"), default=0)
    item_code = models.CharField(_("item code"), max_length=32)
    name = models.CharField(_("name"), max_length=200)
    catalogue_class = models.CharField(_("catalogue class"), max_length=1)
    amount = money_field(_("amount"))
    class_self_pay = money_field(_("class self-pay"))
    eligible = money_field(_("eligible amount"))
    payable = money_field(_("claimed payment"), default=ZERO)
    approved_amount = money_field(_("approved amount"), null=True, blank=True)
    reason_code = models.CharField(_("reason code"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("claim line")
        verbose_name_plural = _("claim lines")
        ordering = ["claim", "sequence", "pk"]

    def __str__(self):
        return f"{self.item_code} {self.amount}"


reason_code_validator = RegexValidator(
    r"^[A-Z0-9][A-Z0-9_.-]{0,15}$", _("A reason code is 1 to 16 capital letters, digits, '.', '_' or '-'.")
)


class ReasonCode(models.Model):
    """A code of the adjudication reason value set, with its text in Chinese and English.

    Codes without an office are the platform's set (seeded by a migration, see docs/REASON_CODES.md);
    an office may add its own codes, which only it can use. Adjudications name codes, never free text.
    """

    office = models.ForeignKey(
        InsuranceOffice, verbose_name=_("insurance office"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(_("code"), max_length=16, validators=[reason_code_validator])
    text_zh = models.CharField(_("text (Chinese)"), max_length=200)
    text_en = models.CharField(_("text (English)"), max_length=200)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("reason code")
        verbose_name_plural = _("reason codes")
        ordering = ["office", "code"]
        constraints = [
            models.UniqueConstraint(fields=["code"], condition=Q(office__isnull=True), name="reason_code_platform_unique"),
            models.UniqueConstraint(fields=["office", "code"], name="reason_code_office_unique"),
        ]

    def __str__(self):
        return f"{self.code} {self.text}"

    @property
    def text(self) -> str:
        return self.text_en if (get_language() or "").startswith("en") else self.text_zh


class AppealKind(models.TextChoices):
    APPEAL = "appeal", _("Appeal by the institution")
    REOPEN = "reopen", _("Reopened by the insurance office")


class ClaimAppeal(models.Model):
    """An adjudication put back for a new decision: the institution's appeal or the office's own reopen.

    The decision it set aside is kept here (the claim itself then waits, under appeal, for the
    office to adjudicate it again); ``decided_*`` records the new decision.
    """

    claim = models.ForeignKey(Claim, verbose_name=_("claim"), on_delete=models.PROTECT, related_name="appeals")
    kind = models.CharField(_("kind"), max_length=8, choices=AppealKind.choices)
    reason = models.TextField(_("reason"))
    previous_status = models.CharField(_("previous status"), max_length=16, choices=ClaimStatus.choices)
    previous_approved_amount = money_field(_("previous approved amount"), null=True, blank=True)
    previous_reason_codes = models.JSONField(_("previous reason codes"), default=list, blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("opened by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_status = models.CharField(_("decision"), max_length=16, choices=ClaimStatus.choices, blank=True)
    decided_amount = money_field(_("approved amount of the decision"), null=True, blank=True)

    class Meta:
        verbose_name = _("adjudication appeal")
        verbose_name_plural = _("adjudication appeals")
        ordering = ["claim", "opened_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["claim"], condition=Q(decided_at__isnull=True), name="claim_appeal_one_open")
        ]

    def __str__(self):
        return f"{self.claim_id} {self.kind} {self.opened_at:%Y-%m-%d}"


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


def settlement_file_path(instance, filename: str) -> str:
    """Storage name of an uploaded settlement file: by office and period, named by its content."""
    extension = ".xlsx" if instance.file_format == FileFormat.XLSX else ".csv"
    return f"insurance/settlement/{instance.office_id}/{instance.period}/{instance.pk}-{instance.sha256[:16]}{extension}"


class SettlementFile(models.Model):
    """A settlement (remittance) file an insurance office uploaded for a period; the original is kept in storage."""

    office = models.ForeignKey(InsuranceOffice, verbose_name=_("insurance office"), on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("period"), max_length=7, validators=[period_validator])
    file_name = models.CharField(_("file name"), max_length=200)
    file_format = models.CharField(_("format"), max_length=8, choices=FileFormat.choices)
    encoding = models.CharField(_("encoding"), max_length=16, blank=True)
    sha256 = models.CharField(max_length=64)
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    uploaded_by_client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    control_total = money_field(
        _("control total"), null=True, blank=True, help_text=_("The sum of paid amounts the office declared for the file.")
    )
    control_count = models.PositiveIntegerField(
        _("control line count"), null=True, blank=True, help_text=_("The number of lines the office declared for the file.")
    )
    #: The file as uploaded, in the platform's storage (empty for files staged before originals were kept).
    original = models.FileField(_("original file"), upload_to=settlement_file_path, blank=True, max_length=200)

    class Meta:
        verbose_name = _("settlement file")
        verbose_name_plural = _("settlement files")
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self):
        return f"{self.file_name} ({self.period})"


class PaymentStatus(models.TextChoices):
    PAID = "paid", _("Paid")
    REJECTED = "rejected", _("Rejected")


class SettlementLine(models.Model):
    """One line of a settlement file; written set-based (COPY on PostgreSQL)."""

    file = models.ForeignKey(SettlementFile, verbose_name=_("settlement file"), on_delete=models.CASCADE, related_name="lines")
    row_number = models.PositiveIntegerField(_("row"))
    claim_number = models.CharField(_("claim number"), max_length=64)
    institution_code = models.CharField(_("institution code"), max_length=32)
    paid_amount = money_field(_("paid amount"))
    payment_status = models.CharField(_("payment status"), max_length=16, choices=PaymentStatus.choices)
    reason_code = models.CharField(_("reason code"), max_length=32, blank=True)
    payment_reference = models.CharField(_("payment trace number"), max_length=64, blank=True)
    payment_date = models.DateField(_("payment date"), null=True, blank=True)
    reverses_reference = models.CharField(
        _("reverses payment"),
        max_length=64,
        blank=True,
        help_text=_("For a reversal line (a negative amount): the trace number of the payment it reverses."),
    )

    class Meta:
        verbose_name = _("settlement line")
        verbose_name_plural = _("settlement lines")
        ordering = ["file", "row_number"]
        indexes = [models.Index(fields=["file", "institution_code", "claim_number"])]

    def __str__(self):
        return f"{self.claim_number} {self.paid_amount}"


class RunStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    FAILED = "failed", _("Failed")


class ReconciliationRun(models.Model):
    office = models.ForeignKey(InsuranceOffice, verbose_name=_("insurance office"), on_delete=models.PROTECT, related_name="+")
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("period"), max_length=7, validators=[period_validator])
    settlement_file = models.ForeignKey(
        SettlementFile, verbose_name=_("settlement file"), on_delete=models.PROTECT, related_name="runs"
    )
    status = models.CharField(_("status"), max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"{self.institution} {self.period} #{self.pk}"


class DiscrepancyKind(models.TextChoices):
    MATCHED = "matched", _("Matched")
    AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch")
    MISSING_AT_INSURER = "missing_at_insurer", _("Missing at insurer")
    UNKNOWN_CLAIM = "unknown_claim", _("Unknown claim")
    DUPLICATE_PAYMENT = "duplicate_payment", _("Duplicate payment")
    REJECTED = "rejected", _("Rejected")


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", _("Open")
    EXPLAINED = "explained", _("Explained")
    RESOLVED = "resolved", _("Resolved")


class Discrepancy(models.Model):
    """One classified result of a reconciliation run; matched results are born resolved.

    Rows are written only by the classification statement, which joins existing claims and lines,
    so the claim and line references carry no database constraint or index of their own: a
    million-row run then costs one index entry per row besides its run indexes.
    """

    run = models.ForeignKey(
        ReconciliationRun, verbose_name=_("run"), on_delete=models.CASCADE, related_name="discrepancies", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=24, choices=DiscrepancyKind.choices)
    claim = models.ForeignKey(
        Claim,
        verbose_name=_("claim"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    line = models.ForeignKey(
        SettlementLine,
        verbose_name=_("settlement line"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    claim_number = models.CharField(_("claim number"), max_length=64)
    expected_amount = money_field(_("expected amount"), null=True, blank=True)
    paid_amount = money_field(_("paid amount"), null=True, blank=True)
    difference = money_field(_("difference"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN)
    note = models.TextField(_("note"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("updated by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        verbose_name = _("discrepancy")
        verbose_name_plural = _("discrepancies")
        ordering = ["run", "kind", "claim_number", "pk"]
        indexes = [models.Index(fields=["run", "status"]), models.Index(fields=["run", "kind"])]

    def __str__(self):
        return f"{self.get_kind_display()} {self.claim_number}"


class PeriodClose(models.Model):
    """An insurance office's closed reconciliation period of an institution: read-only for it from then on.

    Each office closes its own: another office's runs, discrepancies and close of the same
    institution and period are untouched. Reopening (by the same office) deletes the row; the audit
    log keeps both events.
    """

    office = models.ForeignKey(
        InsuranceOffice, verbose_name=_("insurance office"), null=True, on_delete=models.PROTECT, related_name="+"
    )
    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("period"), max_length=7, validators=[period_validator])
    closed_at = models.DateTimeField(_("closed at"), default=timezone.now)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("closed by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("closed period")
        verbose_name_plural = _("closed periods")
        ordering = ["-period"]
        constraints = [models.UniqueConstraint(fields=["office", "institution", "period"], name="period_close_unique_per_office")]

    def __str__(self):
        return f"{self.institution} {self.period}"


class IdempotencyRecord(models.Model):
    """The stored answer to a POST made with an Idempotency-Key, replayed for the same key and body."""

    owner = models.CharField(max_length=64)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_unique_key")]

    def __str__(self):
        return f"{self.owner} {self.key}"


# --- the consortium fund (医保总额付费): budget, prepayments, settlements, clearing, surplus split -------


class ConsortiumFund(models.Model):
    """The global budget the insurer agreed with a consortium for one scheme year.

    The numbers of the agreement live here; what happened to the money lives only in the
    append-only ledger (``FundEntry``).
    """

    consortium = models.ForeignKey(Consortium, verbose_name=_("consortium"), on_delete=models.PROTECT, related_name="+")
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.PROTECT, related_name="funds")
    year = models.PositiveSmallIntegerField(_("year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)])
    office = models.ForeignKey(InsuranceOffice, verbose_name=_("insurance office"), on_delete=models.PROTECT, related_name="+")
    budget = money_field(_("budget"), validators=[MinValueValidator(Decimal("0.01"))])
    overspend_tolerance = ratio_field(
        _("reasonable overspend"),
        default=Decimal("0.1000"),
        help_text=_("The overspend up to this share of the budget counts as reasonable and is shared with the insurer."),
    )
    insurer_overspend_share = ratio_field(
        _("insurer's share of a reasonable overspend"),
        default=Decimal("0.5000"),
        help_text=_("The share of the reasonable overspend the insurer bears, per the agreement."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("consortium fund")
        verbose_name_plural = _("consortium funds")
        ordering = ["-year", "consortium__code", "scheme__code"]
        constraints = [models.UniqueConstraint(fields=["consortium", "scheme", "year"], name="fund_one_per_scheme_year")]

    def __str__(self):
        return f"{self.consortium} {self.scheme.code} {self.year}"


class FundEntryKind(models.TextChoices):
    BUDGET = "budget", _("Budget agreed")
    PREPAYMENT = "prepayment", _("Monthly prepayment")
    PROVISIONAL = "provisional", _("Monthly provisional settlement")
    CLEARING = "clearing", _("Year-end clearing")
    SURPLUS_SHARE = "surplus_share", _("Member's share of the surplus")
    REVERSAL = "reversal", _("Reversal")


class AppendOnlyQuerySet(models.QuerySet):
    """Rows that are written once: bulk updates and deletes are refused."""

    def update(self, **kwargs):
        raise ValidationError(_("Posted ledger entries are never changed; post a reversal."))

    def delete(self):
        raise ValidationError(_("Posted ledger entries are never changed; post a reversal."))


class FundEntry(models.Model):
    """One posted entry of a fund's ledger; never updated or deleted — a correction is a reversal entry.

    ``amount`` is money moving between the insurer and the consortium where the kind moves money
    (prepayments, clearing balances, surplus shares), else the figure the entry records (the
    budget, the fund paid to date of a provisional settlement). ``detail`` keeps the inputs and the
    members' figures the entry was computed from.
    """

    fund = models.ForeignKey(ConsortiumFund, verbose_name=_("fund"), on_delete=models.PROTECT, related_name="entries")
    sequence = models.PositiveIntegerField(_("sequence"))
    kind = models.CharField(_("kind"), max_length=16, choices=FundEntryKind.choices)
    period = models.CharField(_("period"), max_length=7, blank=True, validators=[period_validator])
    institution = models.ForeignKey(
        Institution, verbose_name=_("member"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = money_field(_("amount"))
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    posted_at = models.DateTimeField(_("posted at"), default=timezone.now)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("posted by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("fund ledger entry")
        verbose_name_plural = _("fund ledger entries")
        ordering = ["fund", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["fund", "sequence"], name="fund_entry_sequence_unique"),
            models.CheckConstraint(
                condition=Q(kind="reversal", reverses__isnull=False) | (~Q(kind="reversal") & Q(reverses__isnull=True)),
                name="fund_entry_reversal_has_original",
            ),
        ]

    def __str__(self):
        return f"{self.fund_id}#{self.sequence} {self.kind} {self.amount}"

    def save(self, *args, **kwargs):
        if self.pk is not None or not self._state.adding:
            raise ValidationError(_("Posted ledger entries are never changed; post a reversal."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("Posted ledger entries are never changed; post a reversal."))


class PerformanceSnapshot(models.Model):
    """Members' performance scores frozen for a fund's surplus split; never changed once taken."""

    fund = models.ForeignKey(ConsortiumFund, verbose_name=_("fund"), on_delete=models.PROTECT, related_name="snapshots")
    taken_at = models.DateTimeField(_("taken at"), default=timezone.now)
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("taken by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("performance snapshot")
        verbose_name_plural = _("performance snapshots")
        ordering = ["fund", "-taken_at", "-pk"]

    def __str__(self):
        return f"{self.fund} @ {self.taken_at:%Y-%m-%d}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError(_("A frozen snapshot is never changed; take a new one."))
        super().save(*args, **kwargs)


class PerformanceScore(models.Model):
    snapshot = models.ForeignKey(PerformanceSnapshot, verbose_name=_("snapshot"), on_delete=models.PROTECT, related_name="scores")
    institution = models.ForeignKey(Institution, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    score = models.DecimalField(
        _("score"),
        max_digits=7,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("performance score")
        verbose_name_plural = _("performance scores")
        ordering = ["snapshot", "institution__code"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "institution"], name="performance_score_unique"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=100), name="performance_score_range"),
        ]

    def __str__(self):
        return f"{self.institution_id}: {self.score}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError(_("A frozen snapshot is never changed; take a new one."))
        super().save(*args, **kwargs)


# --- visits outside the county, from the insurer's settlement data ---------------------------------


class OutOfCountyFile(models.Model):
    """A file (or API upload) of an office: county residents' settled visits at institutions outside the county."""

    office = models.ForeignKey(InsuranceOffice, verbose_name=_("insurance office"), on_delete=models.PROTECT, related_name="+")
    file_name = models.CharField(_("file name"), max_length=200)
    sha256 = models.CharField(max_length=64)
    line_count = models.PositiveIntegerField(_("lines"), default=0)
    new_visits = models.PositiveIntegerField(_("new visits"), default=0)
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("out-of-county visit file")
        verbose_name_plural = _("out-of-county visit files")
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self):
        return self.file_name


class OutOfCountyVisit(models.Model):
    """One settled visit of a county resident outside the county, as the insurer reported it.

    It feeds the indicators and the fund; it is never a clinical record: the patient link is the
    insurance number matched to the MPI, nothing is written into the patient's record.
    """

    office = models.ForeignKey(InsuranceOffice, verbose_name=_("insurance office"), on_delete=models.PROTECT, related_name="+")
    file = models.ForeignKey(OutOfCountyFile, verbose_name=_("file"), on_delete=models.PROTECT, related_name="visits")
    settlement_number = models.CharField(_("settlement number"), max_length=64)
    insurance_number = models.CharField(_("insurance number"), max_length=32)
    patient = models.ForeignKey(
        Patient, verbose_name=_("patient"), null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    scheme = models.ForeignKey(Scheme, verbose_name=_("scheme"), on_delete=models.PROTECT, related_name="+")
    institution_name = models.CharField(_("institution"), max_length=200)
    institution_region = models.CharField(_("region code"), max_length=6)
    level = models.CharField(_("institution level"), max_length=32, choices=InstitutionLevel.choices)
    inpatient = models.BooleanField(_("inpatient"), default=False)
    visit_date = models.DateField(_("visit date"))
    total = money_field(_("total charges"), validators=[MinValueValidator(ZERO)])
    fund_paid = money_field(_("fund paid"), validators=[MinValueValidator(ZERO)])

    class Meta:
        verbose_name = _("out-of-county visit")
        verbose_name_plural = _("out-of-county visits")
        ordering = ["-visit_date", "pk"]
        constraints = [models.UniqueConstraint(fields=["office", "settlement_number"], name="out_of_county_visit_unique")]
        indexes = [models.Index(fields=["visit_date"], name="out_of_county_visit_date_idx")]

    def __str__(self):
        return self.settlement_number
