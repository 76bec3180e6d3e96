from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import Institution
from records.widgets import HtmlDateField

from .models import AssistanceGroup, DiscrepancyStatus, Scheme, period_validator


class ClaimCreateForm(forms.Form):
    encounter = forms.ModelChoiceField(queryset=None, label=_("Visit"))

    def __init__(self, *args, encounters, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["encounter"].queryset = encounters
        self.fields["encounter"].label_from_instance = visit_label


def visit_label(encounter) -> str:
    """A visit as the claim form lists it, dated in the consortium's zone (never the UTC day)."""
    started = timezone.localtime(encounter.started_at)
    return f"{started:%Y-%m-%d %H:%M} · {encounter.institution.name} · {encounter.patient.name} · {encounter.get_kind_display()}"


class SubmitBatchForm(forms.Form):
    institution = forms.ModelChoiceField(queryset=Institution.objects.none(), label=_("Institution"))
    period = forms.CharField(
        label=_("Period"),
        max_length=7,
        validators=[period_validator],
        widget=forms.TextInput(attrs={"type": "month"}),
        help_text=_("The month whose draft claims go in the batch."),
    )

    def __init__(self, *args, institutions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = institutions


class CorrectClaimForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the correction"), max_length=64)


class DiscrepancyForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=DiscrepancyStatus.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class EnrolmentForm(forms.Form):
    """The clinic clerk's enrolment of a patient; the rules live in :mod:`insurance.enrolment`."""

    scheme = forms.ModelChoiceField(label=_("Scheme"), queryset=Scheme.objects.none())
    year = forms.TypedChoiceField(label=_("Year"), coerce=int)
    insurance_number = forms.CharField(label=_("Insurance number"), max_length=32)
    household_number = forms.CharField(label=_("Household number"), max_length=32, required=False)
    premium_paid = forms.DecimalField(
        label=_("Premium paid (yuan)"), max_digits=10, decimal_places=2, min_value=0, required=False, initial=Decimal("0.00")
    )
    premium_paid_on = HtmlDateField(label=_("Premium paid on"), required=False)
    assistance_group = forms.ChoiceField(
        label=_("Medical assistance group"), choices=[("", "—"), *AssistanceGroup.choices], required=False
    )

    def __init__(self, *args, today, **kwargs):
        super().__init__(*args, **kwargs)
        schemes = Scheme.objects.order_by("code")
        self.fields["scheme"].queryset = schemes
        self.fields["scheme"].label_from_instance = lambda scheme: scheme.label
        self.fields["year"].choices = [(year, str(year)) for year in (today.year, today.year + 1, today.year - 1)]
        self.initial.setdefault("year", today.year)
        self.initial.setdefault("premium_paid_on", today)
