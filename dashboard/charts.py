"""What the dashboard shows: each chart, its type and the indicators it plots."""

from dataclasses import dataclass

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

PERCENT, HOURS, MINUTES, COUNT, SCORE, RATIO, YUAN = "percent", "hours", "minutes", "count", "score", "ratio", "yuan"

#: The county indicators that come for all residents and split by rural and urban residents (``_rural``/``_urban``).
COUNTY = {
    "in_county_visit_rate": (_("In-county visit rate"), PERCENT),
    "in_county_inpatient_rate": (_("In-county inpatient rate"), PERCENT),
    "primary_visit_share": (_("Share of visits at primary level"), PERCENT),
    "fund_in_county_share": (_("Share of the insurance fund spent in the county"), PERCENT),
    "fund_primary_share": (_("Share of the insurance fund spent at primary level"), PERCENT),
    "visits_in_county": (_("Residents' visits in the county"), COUNT),
    "visits_out_of_county_members": (_("Residents' visits outside the county, at members"), COUNT),
    "visits_out_of_county_insurer": (_("Residents' visits outside the county, from the insurer"), COUNT),
    "admissions_in_county": (_("Residents' admissions in the county"), COUNT),
    "admissions_out_of_county_members": (_("Residents' admissions outside the county, at members"), COUNT),
    "admissions_out_of_county_insurer": (_("Residents' admissions outside the county, from the insurer"), COUNT),
    "fund_in_county": (_("Insurance fund paid in the county"), YUAN),
    "fund_out_of_county_members": (_("Insurance fund paid outside the county, at members"), YUAN),
    "fund_out_of_county_insurer": (_("Insurance fund paid outside the county, from the insurer"), YUAN),
    "fund_primary": (_("Insurance fund paid at primary level"), YUAN),
}
RURAL, URBAN = _("{indicator}, rural residents"), _("{indicator}, urban residents")


def _split(indicators: dict) -> dict:
    """Each indicator, then its rural and its urban residents' variant."""
    split = {}
    for code, (label, unit) in indicators.items():
        split[code] = (label, unit)
        split[f"{code}_rural"] = (format_lazy(RURAL, indicator=label), unit)
        split[f"{code}_urban"] = (format_lazy(URBAN, indicator=label), unit)
    return split


#: indicator code -> (label, unit)
INDICATORS = {
    **_split(COUNTY),
    "referrals_up": (_("Upward referrals"), COUNT),
    "referrals_down": (_("Downward referrals"), COUNT),
    "up_down_ratio": (_("Upward to downward ratio"), RATIO),
    "decision_hours": (_("Median hours from referral to decision"), HOURS),
    "appointment_hours": (_("Median hours from referral to appointment"), HOURS),
    "acceptance_rate": (_("Referral acceptance rate"), PERCENT),
    "follow_up_completion": (_("Follow-up completion rate"), PERCENT),
    "reimbursement_ratio_rural": (_("Reimbursement ratio, rural patients"), PERCENT),
    "reimbursement_ratio_urban": (_("Reimbursement ratio, urban patients"), PERCENT),
    "self_pay_share_rural": (_("Self-pay share, rural patients"), PERCENT),
    "self_pay_share_urban": (_("Self-pay share, urban patients"), PERCENT),
    "discrepancy_rate": (_("Claim discrepancy rate"), PERCENT),
    "sync_lag_minutes": (_("Median sync lag (minutes)"), MINUTES),
    "satisfaction": (_("Patient satisfaction after referral (1–5)"), SCORE),
    "bp_control_rate_rural": (_("Blood pressure control rate, rural patients"), PERCENT),
    "bp_control_rate_urban": (_("Blood pressure control rate, urban patients"), PERCENT),
    "glucose_control_rate_rural": (_("Blood glucose control rate, rural patients"), PERCENT),
    "glucose_control_rate_urban": (_("Blood glucose control rate, urban patients"), PERCENT),
    "chronic_referrals_triggered": (_("Referrals proposed by chronic-care triggers"), COUNT),
    "chronic_referrals_completed": (_("Referrals proposed by chronic-care triggers and completed"), COUNT),
    "hypertension_enrolled": (_("Hypertension patients enrolled"), COUNT),
    "chronic_admissions": (_("Admissions of patients on a chronic-disease register"), COUNT),
    "diabetes_enrolled": (_("Type 2 diabetes patients enrolled"), COUNT),
    "bp_standardised_rate_rural": (_("Standardised hypertension management rate, rural patients"), PERCENT),
    "bp_standardised_rate_urban": (_("Standardised hypertension management rate, urban patients"), PERCENT),
    "glucose_standardised_rate_rural": (_("Standardised diabetes management rate, rural patients"), PERCENT),
    "glucose_standardised_rate_urban": (_("Standardised diabetes management rate, urban patients"), PERCENT),
    "contract_coverage_rural": (_("Family-doctor contract coverage, rural residents"), PERCENT),
    "contract_coverage_urban": (_("Family-doctor contract coverage, urban residents"), PERCENT),
    "residents_registered_rural": (_("Registered rural residents"), COUNT),
    "residents_registered_urban": (_("Registered urban residents"), COUNT),
    "residents_contracted_rural": (_("Rural residents with a family-doctor contract"), COUNT),
    "residents_contracted_urban": (_("Urban residents with a family-doctor contract"), COUNT),
    "dx_turnaround_hours": (_("Median hours from diagnostic order to report (p50)"), HOURS),
    "dx_turnaround_p90_hours": (_("90th percentile hours from diagnostic order to report (p90)"), HOURS),
    "dx_studies": (_("Diagnostic studies ordered"), COUNT),
    "dx_critical_in_time": (_("Critical values acknowledged within target"), PERCENT),
    "dx_recognition_rate": (_("Recognised prior results used"), PERCENT),
    "seconded_physicians": (_("Physicians seconded from hospitals"), COUNT),
    "dx_township_coverage": (_("Township centres served by the shared centres"), PERCENT),
    "dx_township_coverage_imaging": (_("Township centres served by an imaging centre"), PERCENT),
    "dx_township_coverage_ecg": (_("Township centres served by an ECG centre"), PERCENT),
    "dx_township_coverage_lab": (_("Township centres served by a laboratory centre"), PERCENT),
    "dx_township_coverage_pathology": (_("Township centres served by a pathology centre"), PERCENT),
    "dx_township_coverage_consultation": (_("Township centres served by remote consultation"), PERCENT),
}
#: Indicators whose months without data count as zero (counts); the others stay empty.
ZERO_WHEN_MISSING = frozenset({"referrals_up", "referrals_down", "dx_studies"})


@dataclass(frozen=True)
class Chart:
    code: str
    title: str
    kind: str  # Chart.js type: "line" or "bar"
    indicators: tuple[str, ...]
    unit: str


CHARTS = [
    Chart("primary-visits", _("Share of visits at primary level"), "line", ("primary_visit_share",), PERCENT),
    Chart("referrals", _("Upward and downward referrals"), "bar", ("referrals_up", "referrals_down"), COUNT),
    Chart("referral-ratio", _("Upward to downward referral ratio"), "line", ("up_down_ratio",), RATIO),
    Chart(
        "referral-times",
        _("Median time from referral to decision and to appointment"),
        "line",
        ("decision_hours", "appointment_hours"),
        HOURS,
    ),
    Chart("acceptance", _("Acceptance and follow-up completion"), "line", ("acceptance_rate", "follow_up_completion"), PERCENT),
    Chart(
        "reimbursement",
        _("Reimbursement ratio, rural and urban patients"),
        "bar",
        ("reimbursement_ratio_rural", "reimbursement_ratio_urban"),
        PERCENT,
    ),
    Chart(
        "self-pay",
        _("Self-pay share, rural and urban patients"),
        "bar",
        ("self_pay_share_rural", "self_pay_share_urban"),
        PERCENT,
    ),
    Chart("discrepancies", _("Claim discrepancy rate"), "line", ("discrepancy_rate",), PERCENT),
    Chart("sync-lag", _("Sync lag"), "line", ("sync_lag_minutes",), MINUTES),
    Chart("satisfaction", _("Patient satisfaction after referral"), "line", ("satisfaction",), SCORE),
    Chart(
        "chronic-control",
        _("Chronic-disease control rates, rural and urban patients"),
        "bar",
        ("bp_control_rate_rural", "bp_control_rate_urban", "glucose_control_rate_rural", "glucose_control_rate_urban"),
        PERCENT,
    ),
    Chart(
        "chronic-management",
        _("Standardised chronic-disease management rates, rural and urban patients"),
        "bar",
        (
            "bp_standardised_rate_rural",
            "bp_standardised_rate_urban",
            "glucose_standardised_rate_rural",
            "glucose_standardised_rate_urban",
        ),
        PERCENT,
    ),
    Chart(
        "chronic-enrolled",
        _("Patients on the chronic-disease registers"),
        "bar",
        ("hypertension_enrolled", "diabetes_enrolled"),
        COUNT,
    ),
    Chart(
        "chronic-referrals",
        _("Referrals proposed by chronic-care triggers, and completed"),
        "bar",
        ("chronic_referrals_triggered", "chronic_referrals_completed"),
        COUNT,
    ),
    Chart(
        "chronic-contracts",
        _("Family-doctor contract coverage, rural and urban residents"),
        "line",
        ("contract_coverage_rural", "contract_coverage_urban"),
        PERCENT,
    ),
    Chart(
        "dx-turnaround",
        _("Shared diagnostics: hours from order to report, p50 and p90"),
        "line",
        ("dx_turnaround_hours", "dx_turnaround_p90_hours"),
        HOURS,
    ),
    Chart("dx-studies", _("Shared diagnostics: studies ordered"), "bar", ("dx_studies",), COUNT),
    Chart(
        "dx-quality",
        _("Critical values acknowledged in time and recognised results used"),
        "line",
        ("dx_critical_in_time", "dx_recognition_rate"),
        PERCENT,
    ),
    Chart(
        "dx-coverage",
        _("Shared diagnostics: township centres served, by centre kind"),
        "line",
        (
            "dx_township_coverage_imaging",
            "dx_township_coverage_ecg",
            "dx_township_coverage_lab",
            "dx_township_coverage_pathology",
            "dx_township_coverage_consultation",
        ),
        PERCENT,
    ),
    Chart(
        "in-county",
        _("In-county visit and inpatient rates"),
        "line",
        ("in_county_visit_rate", "in_county_inpatient_rate"),
        PERCENT,
    ),
    Chart(
        "in-county-split",
        _("In-county visit rate, rural and urban residents"),
        "bar",
        ("in_county_visit_rate_rural", "in_county_visit_rate_urban"),
        PERCENT,
    ),
    Chart(
        "fund-in-county",
        _("Insurance fund spent in the county and at primary level"),
        "line",
        ("fund_in_county_share", "fund_primary_share"),
        PERCENT,
    ),
]
CHARTS_BY_CODE = {chart.code: chart for chart in CHARTS}
