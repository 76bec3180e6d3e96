from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import Institution

from .models import DiscrepancyStatus, period_validator


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
    period = forms.CharField(label=_("Period (YYYY-MM)"), max_length=7, validators=[period_validator])

    def __init__(self, *args, institutions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = institutions


class CorrectClaimForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the correction"), max_length=64)


class DiscrepancyForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=DiscrepancyStatus.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
