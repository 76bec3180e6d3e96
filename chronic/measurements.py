"""What a chronic-care follow-up can measure: the visit's vital signs (``records.vitals``) plus the few
measures the programmes add (fasting glucose, HbA1c, BMI, smoking, medication adherence).

A measurement is named by one key across apps (the visit form's field name for a vital sign:
``bp_systolic``, ``pulse``) and stored under its LOINC code, so a follow-up recorded here and a visit
recorded at the clinic carry the same observation codes. A value outside the plausible range is a
typing error and is refused, naming the measurement; a programme may define a measurement of its own
in its rule data (see ``chronic/rules.py::measurement_defs``).
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext_lazy as _

from records.vitals import VITAL_SIGNS


@dataclass(frozen=True)
class Measurement:
    key: str
    code: str  # LOINC where there is one
    name: str  # the name stored on the observation (the clinical record is kept in Chinese)
    label: object
    unit: str
    low: Decimal  # plausible range, inclusive
    high: Decimal
    places: int = 0
    kind: str = "vital"  # records.models.ObservationKind
    reference: tuple = (None, None)


def _d(value) -> Decimal:
    return Decimal(str(value))


FROM_VITALS = {
    sign.field: Measurement(
        sign.field, sign.code, sign.name, sign.label, sign.unit, *sign.plausible, sign.decimal_places, "vital", sign.reference
    )
    for sign in VITAL_SIGNS
}
PROGRAMME_MEASURES = {
    m.key: m
    for m in (
        Measurement(
            "fbg",
            "1558-6",
            "空腹血糖",
            _("Fasting blood glucose"),
            "mmol/L",
            _d("1.0"),
            _d("40.0"),
            1,
            "lab",
            (_d("3.9"), _d("6.1")),
        ),
        Measurement("hba1c", "4548-4", "糖化血红蛋白", _("HbA1c"), "%", _d("3.0"), _d("20.0"), 1, "lab", (_d("4.0"), _d("6.0"))),
        Measurement("bmi", "39156-5", "体质指数", _("Body mass index"), "kg/m2", _d("10.0"), _d("60.0"), 1),
        Measurement("cigarettes", "63640-6", "日吸烟量", _("Cigarettes a day"), "/d", _d(0), _d(100)),
        Measurement(
            "adherence", "71799-1", "服药依从性", _("Medication adherence (0 none, 1 irregular, 2 regular)"), "", _d(0), _d(2)
        ),
    )
}
MEASUREMENTS: dict[str, Measurement] = {**FROM_VITALS, **PROGRAMME_MEASURES}
BY_CODE = {m.code: m for m in MEASUREMENTS.values()}


def parse_value(measurement: Measurement, raw) -> Decimal:
    """The value at the measurement's precision; ValueError with a message naming it if it is not plausible."""
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(_("%(name)s must be a number.") % {"name": measurement.label}) from None
    if not value.is_finite():
        raise ValueError(_("%(name)s must be a number.") % {"name": measurement.label})
    value = value.quantize(Decimal(1).scaleb(-measurement.places))
    if not measurement.low <= value <= measurement.high:
        raise ValueError(
            _("%(name)s of %(value)s %(unit)s is outside the plausible range %(low)s–%(high)s.")
            % {
                "name": measurement.label,
                "value": value,
                "unit": measurement.unit,
                "low": measurement.low,
                "high": measurement.high,
            }
        )
    return value


def observation_row(measurement: Measurement, value: Decimal) -> dict:
    """The row ``records.services.record_encounter`` takes for one measured value."""
    low, high = measurement.reference
    return {
        "kind": measurement.kind,
        "code": measurement.code,
        "name": measurement.name,
        "value": value,
        "unit": measurement.unit,
        "reference_low": low,
        "reference_high": high,
    }
