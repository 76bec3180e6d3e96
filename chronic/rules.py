"""Chronic-disease programme rules as pure functions of a version's rule data: no database, no clock.

A programme version stores its rules as data (``ProgrammeVersion.rules``), so that a new programme
(COPD, severe mental disorders) needs a new row, not new code. The functions here decide, in order:

1. **Inclusion** (:func:`code_matches`, :func:`meets_inclusion`): a diagnosis whose ICD-10 category
   falls in one of the programme's codes or ranges (``I10-I15``, ``E11``); optionally a visit whose
   measurements all meet the inclusion conditions (``bp_systolic >= 140, bp_diastolic >= 90``).
2. **Control** (:func:`classify`): *danger* if any danger condition holds (``bp_systolic >= 180``); otherwise
   *controlled* if every target holds (``bp_systolic < 140, bp_diastolic < 90``); otherwise *uncontrolled*.
3. **Risk level** (:func:`risk_level`): the first level, in the programme's order, one of whose
   conditions holds; the last level has no conditions and catches the rest.
4. **Schedule** (:func:`interval_days`, :func:`next_due`): a level's visits a year give its interval
   (``365 // visits``; 4 a year is 91 days); an uncontrolled result brings the next visit forward to
   the re-check interval, a danger result further still; never later than the level's interval.
5. **Triggers** (:func:`trigger`): a danger value, or the programme's number of consecutive
   follow-ups not controlled, proposes an upward referral.
6. **Standardised management** (:func:`required_follow_ups`): the follow-ups due in the last year
   of enrolment, pro rata, at the national minimum of four a year.

Worked example (hypertension, targets ``bp_systolic < 140, bp_diastolic < 90``, danger ``bp_systolic >= 180``, low risk 4 a
year, re-check 14 days): a follow-up on 1 March with 150/95 is *uncontrolled*, next due 15 March;
on 15 March 132/84 is *controlled*, next due 14 June (91 days). Two uncontrolled in a row trigger
a referral proposal; 186/100 once triggers it at once, as danger.
"""

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from .measurements import MEASUREMENTS, Measurement

CONTROLLED, UNCONTROLLED, DANGER = "controlled", "uncontrolled", "danger"
TRIGGER_DANGER, TRIGGER_CONSECUTIVE = "danger", "consecutive"
NATIONAL_MINIMUM_VISITS = 4  # face-to-face follow-ups a year in the national basic public health service standard
OPERATORS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_CONDITION = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")
_CODE_SPEC = re.compile(r"^[A-Z]\d{2}(?:-[A-Z]\d{2})?$")


class RuleError(ValueError):
    """Rule data that cannot be used; ``errors`` maps the field at fault to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Condition:
    key: str
    op: str
    value: Decimal

    def holds(self, measurements: dict[str, Decimal]) -> bool | None:
        """Whether it holds; None when the measurement is missing."""
        if measurements.get(self.key) is None:
            return None
        return OPERATORS[self.op](Decimal(measurements[self.key]), self.value)

    def as_data(self) -> dict:
        return {"key": self.key, "op": self.op, "value": str(self.value)}

    def __str__(self):
        return f"{self.key} {self.op} {self.value}"


# --- conditions and code lists as text (the edit page) and as data (the version's JSON) ----------


def parse_conditions(text: str) -> list[Condition]:
    """``"bp_systolic < 140, bp_diastolic < 90"`` -> conditions; ValueError naming the part that cannot be read."""
    conditions = []
    for part in (text or "").replace("，", ",").split(","):
        if not part.strip():
            continue
        match = _CONDITION.match(part)
        if match is None:
            raise ValueError(_("“%(part)s” is not a condition like “bp_systolic < 140”.") % {"part": part.strip()})
        conditions.append(Condition(match[1], match[2], Decimal(match[3])))
    return conditions


def format_conditions(conditions: list) -> str:
    return ", ".join(str(c if isinstance(c, Condition) else condition_from(c)) for c in conditions)


def condition_from(data: dict) -> Condition:
    return Condition(data["key"], data["op"], Decimal(str(data["value"])))


def parse_codes(text: str) -> list[str]:
    """``"I10-I15, E11"`` -> ``["I10-I15", "E11"]``; ValueError naming a code that is not an ICD-10 category or range."""
    specs = []
    for part in re.split(r"[,，\s]+", (text or "").strip().upper()):
        if not part:
            continue
        if not _CODE_SPEC.match(part) or ("-" in part and part.split("-")[0] > part.split("-")[1]):
            raise ValueError(_("“%(part)s” is not an ICD-10 category like I10 or a range like I10-I15.") % {"part": part})
        specs.append(part)
    return specs


def code_bounds(spec: str) -> tuple[str, str]:
    first, _sep, last = spec.partition("-")
    return first, last or first


def code_matches(code: str, specs: list[str]) -> bool:
    """Whether an ICD-10 code (``I11.9``) falls in one of the categories or ranges (``I10-I15``)."""
    category = (code or "").upper()[:3]
    return any(low <= category <= high for low, high in map(code_bounds, specs))


# --- the rule data ------------------------------------------------------------------------------


def measurement_defs(rules: dict) -> list[tuple[Measurement, bool]]:
    """The measurements a follow-up records, with whether each is required; a programme may define its own."""
    defs = []
    for item in rules.get("measurements", []):
        if item["key"] in MEASUREMENTS and "unit" not in item:
            vital = MEASUREMENTS[item["key"]]
        else:
            vital = Measurement(
                item["key"],
                item.get("loinc", "") or item["key"],
                item.get("label", item["key"]),
                item.get("label", item["key"]),
                item.get("unit", ""),
                Decimal(str(item["low"])),
                Decimal(str(item["high"])),
                int(item.get("places", 0)),
                item.get("kind", "vital"),
            )
        defs.append((vital, bool(item.get("required"))))
    return defs


def _conditions(rules: dict, name: str) -> list[Condition]:
    return [condition_from(c) for c in rules.get(name, [])]


def validate_rules(rules: dict) -> dict:
    """Check a version's rules before they are saved; RuleError names each field at fault."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    inclusion = rules.get("inclusion", {})
    if not inclusion.get("codes") and not inclusion.get("measurements"):
        fail("inclusion", _("Give at least one diagnosis code or inclusion measurement."))
    for spec in inclusion.get("codes", []):
        if not _CODE_SPEC.match(spec):
            fail("inclusion", _("“%(part)s” is not an ICD-10 category like I10 or a range like I10-I15.") % {"part": spec})
    try:
        defs = measurement_defs(rules)
    except (KeyError, InvalidOperation, ValueError):
        fail("measurements", _("A programme's own measurement needs a key, a label, a unit and a plausible range."))
        defs = []
    keys = {vital.key for vital, _required in defs}
    required = {vital.key for vital, is_required in defs if is_required}
    if not defs:
        fail("measurements", _("Choose at least one measurement."))
    for key in [item.get("key") for item in rules.get("measurements", [])]:
        if key not in MEASUREMENTS and not any(v.key == key and v.unit for v, _r in defs):
            fail("measurements", _("“%(key)s” is not a known measurement.") % {"key": key})
    for field in ("targets", "danger"):
        conditions = _conditions(rules, field)
        if field == "targets" and not conditions:
            fail(field, _("Give at least one control target."))
        for condition in conditions:
            if condition.key not in required:
                fail(field, _("“%(key)s” must be a required measurement of the follow-up.") % {"key": condition.key})
    for condition in _conditions({"c": inclusion.get("measurements", [])}, "c"):
        if condition.key not in keys:
            fail("inclusion", _("“%(key)s” is not a measurement of this programme.") % {"key": condition.key})
    levels = rules.get("risk_levels", [])
    if not levels:
        fail("risk_levels", _("Give at least one risk level."))
    codes = [level.get("code") for level in levels]
    if len(set(codes)) != len(codes) or not all(codes):
        fail("risk_levels", _("Each risk level needs its own code."))
    for position, level in enumerate(levels):
        visits = level.get("visits_per_year")
        if not isinstance(visits, int) or not NATIONAL_MINIMUM_VISITS <= visits <= 52:
            fail(
                "risk_levels",
                _("Risk level “%(code)s”: visits a year must be a whole number from %(min)d to 52.")
                % {"code": level.get("code"), "min": NATIONAL_MINIMUM_VISITS},
            )
        when = level.get("when", [])
        if position == len(levels) - 1 and when:
            fail("risk_levels", _("The last risk level takes everyone else: it has no conditions."))
        if position < len(levels) - 1 and not when:
            fail(
                "risk_levels",
                _("Risk level “%(code)s” needs conditions (only the last one has none).") % {"code": level.get("code")},
            )
        for condition in map(condition_from, when):
            if condition.key not in keys:
                fail("risk_levels", _("“%(key)s” is not a measurement of this programme.") % {"key": condition.key})
    for field in ("uncontrolled_recheck_days", "danger_recheck_days", "missed_recheck_days"):
        value = rules.get(field)
        if not isinstance(value, int) or not 1 <= value <= 91:
            fail(field, _("A number of days from 1 to 91."))
    consecutive = rules.get("consecutive_uncontrolled")
    if not isinstance(consecutive, int) or not 1 <= consecutive <= 6:
        fail("consecutive_uncontrolled", _("A number of follow-ups from 1 to 6."))
    if errors:
        raise RuleError(errors)
    return rules


# --- decisions ------------------------------------------------------------------------------------


def meets_inclusion(rules: dict, codes: list[str], measurements: dict[str, Decimal] | None = None) -> bool:
    inclusion = rules.get("inclusion", {})
    if code_matches_any(codes, inclusion.get("codes", [])):
        return True
    conditions = _conditions({"c": inclusion.get("measurements", [])}, "c")
    return bool(conditions) and all(c.holds(measurements or {}) for c in conditions)


def code_matches_any(codes: list[str], specs: list[str]) -> bool:
    return any(code_matches(code, specs) for code in codes)


def classify(rules: dict, measurements: dict[str, Decimal]) -> str:
    """controlled / uncontrolled / danger; the targets' measurements must be present."""
    if any(c.holds(measurements) for c in _conditions(rules, "danger")):
        return DANGER
    targets = _conditions(rules, "targets")
    missing = [c.key for c in targets if measurements.get(c.key) is None]
    if missing:
        raise RuleError({missing[0]: [_("This measurement is needed to classify control.")]})
    return CONTROLLED if all(c.holds(measurements) for c in targets) else UNCONTROLLED


def risk_level(rules: dict, measurements: dict[str, Decimal]) -> str:
    """The code of the first level one of whose conditions holds; the last level otherwise."""
    levels = rules["risk_levels"]
    for level in levels[:-1]:
        if any(condition_from(c).holds(measurements) for c in level["when"]):
            return level["code"]
    return levels[-1]["code"]


def level_of(rules: dict, code: str) -> dict:
    for level in rules["risk_levels"]:
        if level["code"] == code:
            return level
    return rules["risk_levels"][-1]


def interval_days(visits_per_year: int) -> int:
    """Days between routine follow-ups at ``visits_per_year`` (4 -> 91, 6 -> 60, 12 -> 30)."""
    return 365 // visits_per_year


def next_due(rules: dict, level_code: str, control: str, done_on: datetime.date) -> datetime.date:
    """When the next follow-up is due after one on ``done_on`` with this control result."""
    days = interval_days(level_of(rules, level_code)["visits_per_year"])
    if control == UNCONTROLLED:
        days = min(days, rules["uncontrolled_recheck_days"])
    elif control == DANGER:
        days = min(days, rules["danger_recheck_days"])
    return done_on + datetime.timedelta(days=days)


def after_missed(rules: dict, missed_on: datetime.date) -> datetime.date:
    """A missed follow-up is offered again this many days after it was marked missed."""
    return missed_on + datetime.timedelta(days=rules["missed_recheck_days"])


def trigger(rules: dict, control: str, previous: list[str]) -> str:
    """Whether this result proposes an upward referral: ``danger``, ``consecutive`` or ``""``.

    ``previous`` are the earlier follow-ups' control results, the most recent first.
    """
    if control == DANGER:
        return TRIGGER_DANGER
    if control == CONTROLLED:
        return ""
    needed = rules["consecutive_uncontrolled"] - 1
    recent = previous[:needed]
    if len(recent) == needed and all(result != CONTROLLED for result in recent):
        return TRIGGER_CONSECUTIVE
    return ""


def required_follow_ups(enrolled_on: datetime.date, as_of: datetime.date, minimum: int = NATIONAL_MINIMUM_VISITS) -> int:
    """Follow-ups a patient should have had in the last year (pro rata for a shorter enrolment)."""
    days = max(0, min(365, (as_of - enrolled_on).days))
    return days * minimum // 365


def is_standardised(done_in_last_year: int, enrolled_on: datetime.date, as_of: datetime.date) -> bool:
    return done_in_last_year >= required_follow_ups(enrolled_on, as_of)
