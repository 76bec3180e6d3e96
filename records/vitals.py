"""Structured vital signs: one form for the visit page and any other page that measures a patient.

Each sign has a LOINC code, a stored name, a unit, a plausible range (a value outside it is a typing
error and is refused on its field) and a reference range (a value outside it is kept and flagged).
Blood pressure is a pair: systolic and diastolic are entered together or not at all.
``VitalsForm.observations()`` gives the rows :func:`records.services.record_encounter` stores; other
apps (chronic-care follow-ups) reuse the form and its template ``records/_vitals.html``.
"""

from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class VitalSign:
    field: str
    code: str
    name: str  # the name stored on the observation (the clinical record is kept in Chinese)
    label: str
    unit: str
    plausible: tuple[Decimal, Decimal]
    reference: tuple[Decimal | None, Decimal | None]
    decimal_places: int = 0


def _d(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


VITAL_SIGNS: tuple[VitalSign, ...] = (
    VitalSign("bp_systolic", "8480-6", "收缩压", _("Blood pressure, systolic"), "mmHg", (_d(50), _d(300)), (_d(90), _d(139))),
    VitalSign("bp_diastolic", "8462-4", "舒张压", _("Blood pressure, diastolic"), "mmHg", (_d(30), _d(200)), (_d(60), _d(89))),
    VitalSign("pulse", "8867-4", "脉搏", _("Pulse"), "/min", (_d(20), _d(250)), (_d(60), _d(100))),
    VitalSign("temperature", "8310-5", "体温", _("Temperature"), "°C", (_d(30), _d(45)), (_d("36.0"), _d("37.3")), 1),
    VitalSign("weight", "29463-7", "体重", _("Weight"), "kg", (_d("0.5"), _d(300)), (None, None), 1),
    VitalSign("height", "8302-2", "身高", _("Height"), "cm", (_d(30), _d(250)), (None, None), 1),
    VitalSign("glucose", "2339-0", "血糖", _("Blood glucose"), "mmol/L", (_d("0.5"), _d(40)), (_d("3.9"), _d("6.1")), 1),
)
BY_CODE = {sign.code: sign for sign in VITAL_SIGNS}


class VitalsForm(forms.Form):
    """The seven common vital signs with units; every filled value is kept, none is guessed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for sign in VITAL_SIGNS:
            low, high = sign.plausible
            step = "1" if sign.decimal_places == 0 else "0." + "0" * (sign.decimal_places - 1) + "1"
            self.fields[sign.field] = forms.DecimalField(
                label=sign.label,
                required=False,
                min_value=low,
                max_value=high,
                max_digits=6,
                decimal_places=sign.decimal_places,
                widget=forms.NumberInput(attrs={"step": step, "inputmode": "decimal", "class": "vital"}),
                help_text=sign.unit,
            )

    def clean(self):
        data = super().clean()
        systolic, diastolic = data.get("bp_systolic"), data.get("bp_diastolic")
        if "bp_systolic" not in self.errors and "bp_diastolic" not in self.errors:
            if systolic is not None and diastolic is None:
                self.add_error("bp_diastolic", _("Enter the diastolic pressure with the systolic one."))
            elif diastolic is not None and systolic is None:
                self.add_error("bp_systolic", _("Enter the systolic pressure with the diastolic one."))
            elif systolic is not None and diastolic is not None and diastolic >= systolic:
                self.add_error("bp_diastolic", _("The diastolic pressure must be lower than the systolic one."))
        return data

    def signs(self):
        """(sign, bound field) pairs for templates."""
        return [(sign, self[sign.field]) for sign in VITAL_SIGNS]

    def observations(self) -> list[dict]:
        """The filled signs as observation rows (kind ``vital``) for the visit services."""
        rows = []
        for sign in VITAL_SIGNS:
            value = self.cleaned_data.get(sign.field)
            if value is None:
                continue
            low, high = sign.reference
            rows.append(
                {
                    "kind": "vital",
                    "code": sign.code,
                    "name": sign.name,
                    "value": value,
                    "unit": sign.unit,
                    "reference_low": low,
                    "reference_high": high,
                }
            )
        return rows
