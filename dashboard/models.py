"""Stored roll-ups of the equalization indicators, fund transparency and catastrophic-expenditure warnings.

Pages read these tables only; Celery tasks (``tasks.py``) recompute them with set-based aggregates.
"""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import Consortium, Institution
from records.models import Patient


class ScopeKind(models.TextChoices):
    CONSORTIUM = "consortium", _("Consortium")
    TOWNSHIP = "township", _("Township")
    INSTITUTION = "institution", _("Institution")


class IndicatorValue(models.Model):
    """One indicator for one scope and month.

    ``scope_id`` is a Consortium id for the consortium scope and an Institution id otherwise (the
    township health centre for the township scope). For ratios ``numerator``/``denominator`` are the
    counts or sums behind ``value``; for medians ``numerator`` is the median and ``denominator`` the
    number of cases.
    """

    indicator = models.CharField(_("indicator"), max_length=48)
    scope = models.CharField(_("scope"), max_length=16, choices=ScopeKind.choices)
    scope_id = models.BigIntegerField(_("scope id"))
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    numerator = models.DecimalField(_("numerator"), max_digits=18, decimal_places=4)
    denominator = models.DecimalField(_("denominator"), max_digits=18, decimal_places=4)
    value = models.DecimalField(_("value"), max_digits=18, decimal_places=4, null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("indicator value")
        verbose_name_plural = _("indicator values")
        ordering = ["indicator", "scope", "scope_id", "month"]
        constraints = [
            models.UniqueConstraint(fields=["indicator", "scope", "scope_id", "month"], name="dashboard_indicator_unique"),
            models.CheckConstraint(condition=Q(month__day=1), name="dashboard_indicator_month_first_day"),
        ]
        indexes = [models.Index(fields=["scope", "scope_id", "month"], name="dashboard_indicator_scope_idx")]

    def __str__(self):
        return f"{self.indicator} {self.scope}#{self.scope_id} {self.month:%Y-%m} = {self.value}"


class FundMonth(models.Model):
    """Fund transparency: insurance spending and reconciliation outcomes of one institution in one month."""

    institution = models.ForeignKey(Institution, verbose_name=_("institution"), on_delete=models.CASCADE, related_name="+")
    month = models.DateField(_("month"))
    claims = models.PositiveIntegerField(_("claims"), default=0)
    total_charges = models.DecimalField(_("total charges"), max_digits=16, decimal_places=2, default=Decimal("0.00"))
    reimbursed = models.DecimalField(_("insurance spending"), max_digits=16, decimal_places=2, default=Decimal("0.00"))
    self_pay = models.DecimalField(_("patient self-pay"), max_digits=16, decimal_places=2, default=Decimal("0.00"))
    settled = models.DecimalField(_("settled by the insurer"), max_digits=16, decimal_places=2, default=Decimal("0.00"))
    reimbursement_ratio = models.DecimalField(_("reimbursement ratio"), max_digits=7, decimal_places=4, null=True, blank=True)
    reconciled_claims = models.PositiveIntegerField(_("reconciliation results"), default=0)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    discrepancies = models.PositiveIntegerField(_("discrepancies"), default=0)
    open_discrepancies = models.PositiveIntegerField(_("open discrepancies"), default=0)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("fund month")
        verbose_name_plural = _("fund months")
        ordering = ["-month", "institution__code"]
        constraints = [
            models.UniqueConstraint(fields=["institution", "month"], name="dashboard_fund_month_unique"),
            models.CheckConstraint(condition=Q(month__day=1), name="dashboard_fund_month_first_day"),
        ]

    def __str__(self):
        return f"{self.institution_id} {self.month:%Y-%m}"


class IncomeBand(models.TextChoices):
    UNDER_10K = "under_10k", _("Under 10,000 yuan a year")
    FROM_10K = "10k_30k", _("10,000–30,000 yuan a year")
    FROM_30K = "30k_60k", _("30,000–60,000 yuan a year")
    FROM_60K = "60k_100k", _("60,000–100,000 yuan a year")
    OVER_100K = "over_100k", _("Over 100,000 yuan a year")


#: The household income a band stands for when no exact income is recorded: the band's midpoint,
#: and the lower bound for the open top band.
BAND_REFERENCE_INCOME = {
    IncomeBand.UNDER_10K: Decimal("5000.00"),
    IncomeBand.FROM_10K: Decimal("20000.00"),
    IncomeBand.FROM_30K: Decimal("45000.00"),
    IncomeBand.FROM_60K: Decimal("80000.00"),
    IncomeBand.OVER_100K: Decimal("100000.00"),
}


class HouseholdEconomics(models.Model):
    """What is known of a patient's household income, for the relative catastrophic-expenditure threshold."""

    patient = models.OneToOneField(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="household")
    income_band = models.CharField(_("household income band"), max_length=16, choices=IncomeBand.choices, blank=True)
    annual_income = models.DecimalField(
        _("annual household income"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.00"))],
        help_text=_("When recorded, used instead of the band."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("household economics")
        verbose_name_plural = _("household economics")
        constraints = [
            models.CheckConstraint(
                condition=Q(annual_income__isnull=True) | Q(annual_income__gte=0), name="household_income_not_negative"
            )
        ]

    def __str__(self):
        return f"household of patient {self.patient_id}"


class WarningPolicy(models.Model):
    """The catastrophic-expenditure thresholds of a consortium; without a row :attr:`DEFAULTS` apply."""

    DEFAULTS = {"absolute_threshold": Decimal("20000.00"), "relative_share": Decimal("0.4000"), "window_months": 12}

    consortium = models.OneToOneField(
        Consortium, verbose_name=_("consortium"), on_delete=models.CASCADE, related_name="warning_policy"
    )
    absolute_threshold = models.DecimalField(
        _("absolute threshold (yuan)"),
        max_digits=12,
        decimal_places=2,
        default=DEFAULTS["absolute_threshold"],
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Self-pay over the window at or above this amount is flagged."),
    )
    relative_share = models.DecimalField(
        _("share of household income"),
        max_digits=5,
        decimal_places=4,
        default=DEFAULTS["relative_share"],
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal("1"))],
        help_text=_("Self-pay at or above this share of the household income is flagged, where the income is known."),
    )
    window_months = models.PositiveSmallIntegerField(
        _("window (months)"), default=DEFAULTS["window_months"], validators=[MinValueValidator(1), MaxValueValidator(36)]
    )

    class Meta:
        verbose_name = _("warning policy")
        verbose_name_plural = _("warning policies")
        constraints = [
            models.CheckConstraint(condition=Q(absolute_threshold__gt=0), name="warning_policy_absolute_positive"),
            models.CheckConstraint(condition=Q(relative_share__gt=0, relative_share__lte=1), name="warning_policy_share_range"),
        ]

    def __str__(self):
        return str(self.consortium)


class WarningStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLEARED = "cleared", _("Cleared")


class ExpenditureWarning(models.Model):
    """A patient whose self-pay over the window passed a threshold, flagged to the township clinic.

    One row per patient; the nightly recomputation refreshes the numbers and clears the flag when
    the patient falls back under both thresholds.
    """

    patient = models.OneToOneField(Patient, verbose_name=_("patient"), on_delete=models.CASCADE, related_name="+")
    institution = models.ForeignKey(
        Institution,
        verbose_name=_("flagged to"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("The patient's township clinic: the home institution, or the township centre above a village clinic."),
    )
    status = models.CharField(_("status"), max_length=8, choices=WarningStatus.choices, default=WarningStatus.OPEN)
    self_pay = models.DecimalField(_("self-pay in the window"), max_digits=14, decimal_places=2)
    visits = models.PositiveIntegerField(_("visits in the window"), default=0)
    window_start = models.DateField(_("window start"))
    window_end = models.DateField(_("window end"))
    absolute_threshold = models.DecimalField(_("absolute threshold"), max_digits=12, decimal_places=2)
    relative_share = models.DecimalField(_("share of household income"), max_digits=5, decimal_places=4)
    reference_income = models.DecimalField(_("household income used"), max_digits=12, decimal_places=2, null=True, blank=True)
    relative_threshold = models.DecimalField(_("relative threshold"), max_digits=12, decimal_places=2, null=True, blank=True)
    over_absolute = models.BooleanField(_("over the absolute threshold"), default=False)
    over_relative = models.BooleanField(_("over the relative threshold"), default=False)
    first_flagged_at = models.DateTimeField(_("first flagged at"), default=timezone.now)
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("catastrophic expenditure warning")
        verbose_name_plural = _("catastrophic expenditure warnings")
        ordering = ["-self_pay", "pk"]
        indexes = [models.Index(fields=["institution", "status"], name="dashboard_warning_inst_idx")]

    def __str__(self):
        return f"warning for patient {self.patient_id} ({self.status})"

    @property
    def share_of_income(self) -> Decimal | None:
        if not self.reference_income:
            return None
        return self.self_pay / self.reference_income
