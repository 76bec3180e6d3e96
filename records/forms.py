"""Web forms of the clinic pages; they only parse input, the services validate and write."""

import json
import uuid

from django import forms
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consortium.errors import Invalid

from . import icd10
from .models import BreakGlassReason, CatalogueClass, CatalogueKind, ChargeCategory, EncounterKind, ObservationKind, Sex
from .widgets import HtmlDateField, HtmlDateTimeField


class PatientRegistrationForm(forms.Form):
    registration_key = forms.CharField(widget=forms.HiddenInput, required=False)
    name = forms.CharField(label=pgettext_lazy("person", "Name"), max_length=64)
    name_pinyin = forms.CharField(
        label=_("Name (pinyin)"), max_length=128, required=False, help_text=_("Left empty, it is filled in from the name.")
    )
    resident_id = forms.CharField(label=_("Resident ID"), max_length=20, required=False)
    sex = forms.ChoiceField(
        label=_("Sex"),
        choices=[("", "—"), *Sex.choices],
        required=False,
        help_text=_("Left empty, it is taken from the resident ID."),
    )
    birth_date = HtmlDateField(
        label=_("Birth date"),
        required=False,
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

    NOT_PATIENT_FIELDS = ("registration_key", "consents_to_sharing", "decision", "reason")

    def patient_data(self) -> dict:
        return {key: self.cleaned_data[key] for key in self.fields if key not in self.NOT_PATIENT_FIELDS}


class PatientEditForm(PatientRegistrationForm):
    """Corrections to a registered patient; a resident ID change needs a reason."""

    reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=200,
        required=False,
        help_text=_("Required when the resident ID changes."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["registration_key"]
        del self.fields["consents_to_sharing"]


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
    reason_code = forms.ChoiceField(label=_("Why"), choices=BreakGlassReason.choices)
    reason = forms.CharField(label=_("Clinical reason"), widget=forms.Textarea(attrs={"rows": 3}))


class EncounterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of visit"), choices=EncounterKind.choices)
    started_at = HtmlDateTimeField(label=_("Started at"))
    ended_at = HtmlDateTimeField(label=_("Ended at"), required=False)
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


def catalogue_search_attrs(kind: str, datalist: str) -> dict:
    """A name input that searches the catalogue as one types (htmx) into ``datalist``; picking an entry
    fills the row's code, price, class and category (``records/catalogue.js``)."""
    return {
        "list": datalist,
        "autocomplete": "off",
        "class": "catalogue-name",
        "hx-get": reverse_lazy("records:catalogue-search"),
        "hx-vals": json.dumps({"kind": kind}),
        "hx-trigger": "input changed delay:300ms",
        "hx-target": f"#{datalist}",
        "hx-swap": "innerHTML",
        "hx-sync": "this:replace",
    }


class CatalogueImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("Catalogue"), choices=CatalogueKind.choices)
    file = forms.FileField(label=_("CSV file"), help_text=_("UTF-8 CSV with a header row; see the columns below."))
    replace = forms.BooleanField(
        label=_("Replace the catalogue"),
        required=False,
        help_text=_("Entries missing from the file are withdrawn (visits that used them keep their rows)."),
    )


class RowForm(forms.Form):
    """One row of a formset: either blank (skipped) or complete (saved whole); a half-filled row is refused.

    ``content_fields`` are the fields whose raw value makes the row "filled" (selects that always post
    a value, like a kind or a class, are not among them); ``required_fields`` must then be present.
    """

    content_fields: tuple[str, ...] = ()
    required_fields: tuple[str, ...] = ()
    required_messages: dict = {}

    def is_blank(self) -> bool:
        for name in self.content_fields:
            value = self[name].data
            if isinstance(value, str):
                value = value.strip()
            if value not in (None, "", False):
                return False
        return True

    def clean(self):
        data = super().clean()
        if self.is_blank():
            return {}
        for name in self.required_fields:
            if data.get(name) in (None, "") and name not in self.errors:
                message = self.required_messages.get(name) or _("Fill this in, or clear the whole row.")
                self.add_error(name, message)
        return data


class RowFormSet(forms.BaseFormSet):
    """A formset whose rows are blank or whole; ``rows()`` gives the filled ones in order."""

    def rows(self) -> list[dict]:
        return [form.cleaned_data for form in self.forms if form.cleaned_data and not form.is_blank()]


class DiagnosisRowForm(RowForm):
    content_fields = ("code", "is_primary")
    required_fields = ("code",)

    code = forms.CharField(
        label=_("ICD-10 code"),
        max_length=8,
        required=False,
        widget=forms.TextInput(attrs={"list": "icd10-options", "autocomplete": "off", "class": "icd10-code"}),
    )
    is_primary = forms.BooleanField(label=_("Primary"), required=False)

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip().upper()
        if code:
            try:
                return icd10.check_code(code).code
            except Invalid as error:
                raise forms.ValidationError(error.message) from None
        return code


class PrescriptionRowForm(RowForm):
    content_fields = ("drug_code", "drug_name", "dose", "frequency", "days")
    required_fields = ("drug_name",)
    required_messages = {"drug_name": _("Name the drug of this prescription, or clear the row.")}

    drug_code = forms.CharField(
        label=_("Drug code"), max_length=32, required=False, widget=forms.TextInput(attrs={"class": "catalogue-code"})
    )
    drug_name = forms.CharField(
        label=_("Drug"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs=catalogue_search_attrs("drug", "drug-options")),
    )
    dose = forms.CharField(label=_("Dose"), max_length=64, required=False)
    frequency = forms.CharField(label=_("Frequency"), max_length=64, required=False)
    days = forms.IntegerField(label=_("Days"), required=False, min_value=1, max_value=365)


class ObservationRowForm(RowForm):
    """A laboratory result (vital signs have their own structured form, :mod:`records.vitals`)."""

    content_fields = ("code", "name", "value", "unit", "reference_low", "reference_high")
    required_fields = ("code", "name", "value")
    required_messages = {
        "code": _("Give the test's code, or clear the row."),
        "name": _("Name the test, or clear the row."),
        "value": _("Enter the result, or clear the row."),
    }

    kind = forms.ChoiceField(label=_("Kind"), choices=ObservationKind.choices, required=False, initial=ObservationKind.LAB)
    code = forms.CharField(label=_("Code"), max_length=32, required=False)
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    value = forms.DecimalField(label=_("Value"), required=False, max_digits=12, decimal_places=3)
    unit = forms.CharField(label=_("Unit"), max_length=32, required=False)
    reference_low = forms.DecimalField(label=_("Reference low"), required=False, max_digits=12, decimal_places=3)
    reference_high = forms.DecimalField(label=_("Reference high"), required=False, max_digits=12, decimal_places=3)

    def clean(self):
        data = super().clean()
        low, high = data.get("reference_low"), data.get("reference_high")
        if low is not None and high is not None and low > high:
            self.add_error("reference_high", _("The reference range is upside down."))
        if data and not data.get("kind"):
            data["kind"] = ObservationKind.LAB
        return data


class ChargeItemRowForm(RowForm):
    content_fields = ("item_code", "name", "category", "catalogue_class", "quantity", "unit_price")
    required_fields = ("item_code", "name", "category", "catalogue_class", "quantity", "unit_price")
    required_messages = {
        "item_code": _("Choose the item from the catalogue or give its code, or clear the row."),
        "name": _("Name the item, or clear the row."),
        "category": _("Choose a charge category."),
        "catalogue_class": _("Choose catalogue class A, B or C."),
        "quantity": _("Enter the quantity, or clear the row."),
        "unit_price": _("Enter the unit price, or clear the row."),
    }

    item_code = forms.CharField(
        label=_("Item code"), max_length=32, required=False, widget=forms.TextInput(attrs={"class": "catalogue-code"})
    )
    name = forms.CharField(
        label=_("Item"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs=catalogue_search_attrs("", "item-options")),
    )
    category = forms.ChoiceField(label=_("Category"), choices=[("", "—"), *ChargeCategory.choices], required=False)
    catalogue_class = forms.ChoiceField(label=_("Class"), choices=[("", "—"), *CatalogueClass.choices], required=False)
    quantity = forms.DecimalField(label=_("Quantity"), required=False, max_digits=10, decimal_places=2, min_value=0)
    unit_price = forms.DecimalField(label=_("Unit price"), required=False, max_digits=12, decimal_places=2, min_value=0)

    def clean_quantity(self):
        quantity = self.cleaned_data["quantity"]
        if quantity is not None and quantity <= 0:
            raise forms.ValidationError(_("The quantity must be more than zero."))
        return quantity


def row_formset(form, max_num: int):
    """A formset of ``form`` rows that starts with one blank row; the page adds more (up to ``max_num``)."""
    return forms.formset_factory(form, formset=RowFormSet, extra=1, max_num=max_num, validate_max=True, absolute_max=max_num)


DiagnosisFormSet = row_formset(DiagnosisRowForm, 20)
PrescriptionFormSet = row_formset(PrescriptionRowForm, 50)
ObservationFormSet = row_formset(ObservationRowForm, 50)
ChargeItemFormSet = row_formset(ChargeItemRowForm, 100)
