"""Web forms of the clinic pages; they only parse input, the services validate and write."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import CatalogueClass, ChargeCategory, EncounterKind, ObservationKind, Sex


class PatientRegistrationForm(forms.Form):
    registration_key = forms.CharField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=64)
    name_pinyin = forms.CharField(
        label=_("Name (pinyin)"), max_length=128, required=False, help_text=_("Left empty, it is filled in from the name.")
    )
    resident_id = forms.CharField(label=_("Resident ID"), max_length=20, required=False)
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices)
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Left empty, it is taken from the resident ID."),
    )
    insurance_number = forms.CharField(label=_("Insurance number"), max_length=32, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=20, required=False)
    village = forms.CharField(label=_("Village"), max_length=100, required=False)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)
    consents_to_sharing = forms.BooleanField(
        label=_("The patient consents to sharing this record within the consortium"), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("registration_key", uuid.uuid4().hex)

    def patient_data(self) -> dict:
        data = {key: self.cleaned_data[key] for key in self.fields if key not in ("registration_key", "consents_to_sharing")}
        return data


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=64,
        help_text=_("Name, pinyin, resident ID, insurance number or phone."),
    )


class ConsentForm(forms.Form):
    granted = forms.TypedChoiceField(
        label=_("Consent to consortium sharing"),
        coerce=lambda value: value == "yes",
        choices=[("yes", _("Granted")), ("no", _("Withdrawn"))],
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)


class AllergyForm(forms.Form):
    substance = forms.CharField(label=_("Allergen"), max_length=100)
    reaction = forms.CharField(label=_("Reaction"), max_length=200, required=False)


class BreakGlassForm(forms.Form):
    resident_id = forms.CharField(label=_("Resident ID"), max_length=20)
    reason = forms.CharField(label=_("Clinical reason"), widget=forms.Textarea(attrs={"rows": 3}))


class EncounterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of visit"), choices=EncounterKind.choices)
    started_at = forms.DateTimeField(label=_("Started at"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ended_at = forms.DateTimeField(
        label=_("Ended at"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    chief_complaint = forms.CharField(label=_("Chief complaint"), widget=forms.Textarea(attrs={"rows": 2}), required=False)
    department = forms.TypedChoiceField(label=_("Department"), required=False, coerce=int, empty_value=None)
    attending = forms.TypedChoiceField(label=_("Attending staff"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args, institution, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = [("", "—")] + [(d.pk, d.name) for d in institution.departments.all()]
        self.fields["attending"].choices = [("", "—")] + [(s.pk, s.display_name) for s in institution.staff.all()]


class EncounterEditForm(EncounterForm):
    diagnoses = forms.CharField(
        label=_("Diagnoses (ICD-10)"),
        required=False,
        max_length=200,
        help_text=_("Codes separated by commas, the primary diagnosis first."),
        widget=forms.TextInput(attrs={"list": "icd10-options", "autocomplete": "off"}),
    )

    def clean_diagnoses(self) -> list[str]:
        return [code.strip() for code in self.cleaned_data["diagnoses"].replace("，", ",").split(",") if code.strip()]


class DiagnosisRowForm(forms.Form):
    code = forms.CharField(
        label=_("ICD-10 code"),
        max_length=8,
        required=False,
        widget=forms.TextInput(attrs={"list": "icd10-options", "autocomplete": "off", "class": "icd10-code"}),
    )
    is_primary = forms.BooleanField(label=_("Primary"), required=False)


class PrescriptionRowForm(forms.Form):
    drug_name = forms.CharField(label=_("Drug"), max_length=200, required=False)
    dose = forms.CharField(label=_("Dose"), max_length=64, required=False)
    frequency = forms.CharField(label=_("Frequency"), max_length=64, required=False)
    days = forms.IntegerField(label=_("Days"), required=False, min_value=1, max_value=365)


class ObservationRowForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=ObservationKind.choices, required=False)
    code = forms.CharField(label=_("Code"), max_length=32, required=False)
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    value = forms.DecimalField(label=_("Value"), required=False, max_digits=12, decimal_places=3)
    unit = forms.CharField(label=_("Unit"), max_length=32, required=False)
    reference_low = forms.DecimalField(label=_("Reference low"), required=False, max_digits=12, decimal_places=3)
    reference_high = forms.DecimalField(label=_("Reference high"), required=False, max_digits=12, decimal_places=3)


class ChargeItemRowForm(forms.Form):
    item_code = forms.CharField(label=_("Item code"), max_length=32, required=False)
    name = forms.CharField(label=_("Item"), max_length=200, required=False)
    category = forms.ChoiceField(label=_("Category"), choices=[("", "—"), *ChargeCategory.choices], required=False)
    catalogue_class = forms.ChoiceField(label=_("Class"), choices=[("", "—"), *CatalogueClass.choices], required=False)
    quantity = forms.DecimalField(label=_("Quantity"), required=False, max_digits=10, decimal_places=2, min_value=0)
    unit_price = forms.DecimalField(label=_("Unit price"), required=False, max_digits=12, decimal_places=2, min_value=0)


DiagnosisFormSet = forms.formset_factory(DiagnosisRowForm, extra=3, max_num=10)
PrescriptionFormSet = forms.formset_factory(PrescriptionRowForm, extra=3, max_num=20)
ObservationFormSet = forms.formset_factory(ObservationRowForm, extra=3, max_num=20)
ChargeItemFormSet = forms.formset_factory(ChargeItemRowForm, extra=3, max_num=30)


def filled_rows(formset, required: str) -> list[dict]:
    """The rows of a valid formset whose ``required`` field is filled in (blank rows are skipped)."""
    return [form.cleaned_data for form in formset if form.cleaned_data and form.cleaned_data.get(required) not in (None, "")]
