"""Forms of the chronic-care pages; they parse input only, the services decide."""

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import rules as R
from .models import FollowUpMethod, ServicePackage, SignatureMethod, TeamRole


class FollowUpForm(forms.Form):
    """The programme's measurements (with units and plausible ranges), how and when, and a note."""

    method = forms.ChoiceField(label=_("How"), choices=FollowUpMethod.choices, initial=FollowUpMethod.CLINIC)
    done_on = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    note = forms.CharField(label=_("Note"), required=False, max_length=300, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, version, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["done_on"].initial = timezone.localdate()
        self.measurement_keys = []
        fields = {}
        for vital, required in R.measurement_defs(version.rules):
            step = "1" if vital.places == 0 else "0." + "0" * (vital.places - 1) + "1"
            fields[vital.key] = forms.CharField(
                label=vital.label,
                required=required,
                help_text=f"{vital.unit} · {vital.low}–{vital.high}" if vital.unit else f"{vital.low}–{vital.high}",
                widget=forms.NumberInput(
                    attrs={
                        "inputmode": "decimal",
                        "step": step,
                        "min": str(vital.low),
                        "max": str(vital.high),
                        "class": "measure",
                    }
                ),
            )
            self.measurement_keys.append(vital.key)
        self.fields = {**fields, **self.fields}

    def measurements(self) -> dict:
        return {key: self.cleaned_data.get(key, "") for key in self.measurement_keys}

    def measurement_fields(self):
        return [self[key] for key in self.measurement_keys]


class EnrolForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Family-doctor team"), queryset=None, required=False)
    risk_level = forms.ChoiceField(label=_("Risk level"), required=False)

    def __init__(self, *args, teams, levels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["risk_level"].choices = [("", _("From the measurements")), *levels]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)


class MissedForm(forms.Form):
    note = forms.CharField(label=_("Why it did not happen"), required=False, max_length=300)


class ContractForm(forms.Form):
    holder = forms.ModelChoiceField(label=_("Resident who signs"), queryset=None)
    household = forms.ModelMultipleChoiceField(
        label=_("Other household members covered"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    package = forms.ChoiceField(label=_("Service package"), choices=ServicePackage.choices)
    starts_on = forms.DateField(label=_("Starts on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    ends_on = forms.DateField(label=_("Ends on"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    signature_method = forms.ChoiceField(label=_("Signature"), choices=SignatureMethod.choices)

    def __init__(self, *args, patients, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["holder"].queryset = patients
        self.fields["household"].queryset = patients
        today = timezone.localdate()
        self.fields["starts_on"].initial = today
        self.fields["ends_on"].initial = (
            today.replace(year=today.year + 1) if (today.month, today.day) != (2, 29) else today + datetime.timedelta(days=365)
        )


class RenewForm(forms.Form):
    ends_on = forms.DateField(label=_("New end date"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    signature_method = forms.ChoiceField(label=_("Signature"), choices=SignatureMethod.choices)


class TeamForm(forms.Form):
    name = forms.CharField(label=_("Team name"), max_length=100)
    doctor = forms.ModelChoiceField(label=_("Family doctor"), queryset=None)
    village_doctors = forms.ModelMultipleChoiceField(
        label=_("Village doctors"), queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    public_health = forms.ModelChoiceField(label=_("Nurse or public health worker"), queryset=None, required=False)

    def __init__(self, *args, staff, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("doctor", "village_doctors", "public_health"):
            self.fields[name].queryset = staff

    def members(self) -> list:
        data = self.cleaned_data
        members = [(data["doctor"], TeamRole.DOCTOR)]
        members += [(s, TeamRole.VILLAGE_DOCTOR) for s in data["village_doctors"] if s != data["doctor"]]
        if data.get("public_health") and data["public_health"] not in [m for m, _r in members]:
            members.append((data["public_health"], TeamRole.PUBLIC_HEALTH))
        return members


class ProgrammeForm(forms.Form):
    """A programme's rules in a few readable fields; the version's JSON is built from them."""

    code = forms.SlugField(label=_("Code"), max_length=32)
    name = forms.CharField(label=_("Name"), max_length=100)
    codes = forms.CharField(label=_("Diagnosis codes"), help_text=_("ICD-10 categories or ranges, e.g. I10-I15, E11"))
    inclusion_measurements = forms.CharField(
        label=_("Inclusion by measurement"),
        required=False,
        help_text=_("Optional, all must hold at one visit, e.g. bp_systolic >= 140, bp_diastolic >= 90"),
    )
    measurements = forms.CharField(
        label=_("Measurements"),
        help_text=_(
            "Keys of the follow-up's measurements, a * marks a required one, e.g. bp_systolic*, bp_diastolic*, pulse, weight"
        ),
    )
    targets = forms.CharField(label=_("Control targets"), help_text=_("All must hold, e.g. bp_systolic < 140, bp_diastolic < 90"))
    danger = forms.CharField(
        label=_("Danger values"), required=False, help_text=_("Any one fires, e.g. bp_systolic >= 180, bp_diastolic >= 110")
    )
    risk_levels = forms.CharField(
        label=_("Risk levels"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line: code | label | visits a year | conditions (any one); the last line has no conditions."),
    )
    uncontrolled_recheck_days = forms.IntegerField(
        label=_("Re-check after an uncontrolled result (days)"), min_value=1, max_value=91
    )
    danger_recheck_days = forms.IntegerField(label=_("Re-check after a danger value (days)"), min_value=1, max_value=91)
    missed_recheck_days = forms.IntegerField(label=_("Offer a missed follow-up again after (days)"), min_value=1, max_value=91)
    consecutive_uncontrolled = forms.IntegerField(
        label=_("Consecutive uncontrolled follow-ups that propose a referral"), min_value=1, max_value=6
    )
    note = forms.CharField(label=_("What changed"), required=False, max_length=200)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["code"].disabled = True

    @classmethod
    def initial_from(cls, programme, rules: dict) -> dict:
        return {
            "code": programme.code,
            "name": programme.name,
            "codes": ", ".join(rules["inclusion"].get("codes", [])),
            "inclusion_measurements": R.format_conditions(rules["inclusion"].get("measurements", [])),
            "measurements": ", ".join(m["key"] + ("*" if m.get("required") else "") for m in rules["measurements"]),
            "targets": R.format_conditions(rules["targets"]),
            "danger": R.format_conditions(rules.get("danger", [])),
            "risk_levels": "\n".join(
                " | ".join([lv["code"], lv.get("label", ""), str(lv["visits_per_year"]), R.format_conditions(lv["when"])])
                for lv in rules["risk_levels"]
            ),
            **{
                name: rules[name]
                for name in (
                    "uncontrolled_recheck_days",
                    "danger_recheck_days",
                    "missed_recheck_days",
                    "consecutive_uncontrolled",
                )
            },
        }

    def _conditions(self, name: str) -> list[dict]:
        try:
            return [c.as_data() for c in R.parse_conditions(self.cleaned_data.get(name, ""))]
        except ValueError as error:
            self.add_error(name, str(error))
            return []

    def rules(self, previous: dict | None = None) -> dict | None:
        """The rule data, or None with the errors on the fields."""
        data = self.cleaned_data
        try:
            codes = R.parse_codes(data.get("codes", ""))
        except ValueError as error:
            self.add_error("codes", str(error))
            codes = []
        own = {m["key"]: m for m in (previous or {}).get("measurements", []) if "unit" in m}
        measurements = []
        for part in [p.strip() for p in data.get("measurements", "").replace("，", ",").split(",") if p.strip()]:
            key = part.rstrip("*").strip()
            measurements.append({**own.get(key, {}), "key": key, "required": part.endswith("*")})
        levels = []
        for number, line in enumerate([ln for ln in data.get("risk_levels", "").splitlines() if ln.strip()], start=1):
            parts = [p.strip() for p in line.split("|")]
            if len(parts) < 3 or not parts[2].isdigit():
                self.add_error(
                    "risk_levels", _("Line %(number)d: write code | label | visits a year | conditions.") % {"number": number}
                )
                continue
            try:
                when = [c.as_data() for c in R.parse_conditions(parts[3] if len(parts) > 3 else "")]
            except ValueError as error:
                self.add_error("risk_levels", _("Line %(number)d: %(error)s") % {"number": number, "error": error})
                continue
            levels.append({"code": parts[0], "label": parts[1], "visits_per_year": int(parts[2]), "when": when})
        rules = {
            "inclusion": {"codes": codes, "measurements": self._conditions("inclusion_measurements")},
            "measurements": measurements,
            "targets": self._conditions("targets"),
            "danger": self._conditions("danger"),
            "risk_levels": levels,
            **{
                name: data.get(name)
                for name in (
                    "uncontrolled_recheck_days",
                    "danger_recheck_days",
                    "missed_recheck_days",
                    "consecutive_uncontrolled",
                )
            },
        }
        if self.errors:
            return None
        try:
            return R.validate_rules(rules)
        except R.RuleError as error:
            for field, messages in error.errors.items():
                target = field if field in self.fields else ("codes" if field == "inclusion" else None)
                for message in messages:
                    self.add_error(target, message)
            return None
