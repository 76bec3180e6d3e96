"""Filters of the dashboard pages: period and scope, validated; a bad value is a form error."""

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .rollups import month_start, months_back, months_between

MAX_MONTHS = 36
DEFAULT_MONTHS = 6


class MonthField(forms.CharField):
    """A month written YYYY-MM (what ``<input type="month">`` sends), cleaned to its first day."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "2026-03"})
    default_error_messages = {"invalid": _("Enter a month as YYYY-MM, e.g. 2026-03.")}

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            year, month = value.split("-")
            if len(year) != 4 or len(month) != 2:
                raise ValueError
            return datetime.date(int(year), int(month), 1)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


def default_period(today: datetime.date | None = None) -> tuple[datetime.date, datetime.date]:
    last = month_start(today or timezone.localdate())
    return months_back(last, DEFAULT_MONTHS), last


class PeriodForm(forms.Form):
    start = MonthField(label=_("From month"), required=False)
    end = MonthField(label=_("To month"), required=False)

    def clean(self):
        cleaned = super().clean()
        default_first, default_last = default_period()
        first = cleaned.get("start") or default_first
        last = cleaned.get("end") or default_last
        if "start" in self.errors or "end" in self.errors:
            return cleaned
        if first > last:
            self.add_error("end", _("The last month must not be before the first."))
        elif len(months_between(first, last)) > MAX_MONTHS:
            self.add_error("end", _("Choose at most %(months)d months.") % {"months": MAX_MONTHS})
        cleaned["start"], cleaned["end"] = first, last
        return cleaned


class DashboardFilterForm(PeriodForm):
    scope = forms.ChoiceField(label=_("Consortium, township or institution"), required=False)

    def __init__(self, *args, scopes, **kwargs):
        super().__init__(*args, **kwargs)
        self.scopes = {option.value: option for option in scopes}
        self.fields["scope"].choices = [(option.value, option.label) for option in scopes]

    def clean_scope(self):
        value = self.cleaned_data.get("scope")
        if not value:
            if not self.scopes:
                raise forms.ValidationError(_("You may not see any indicators."), code="no_scope")
            return next(iter(self.scopes.values()))
        return self.scopes[value]


class HouseholdForm(forms.Form):
    income_band = forms.ChoiceField(label=_("Household income band"), required=False)
    annual_income = forms.DecimalField(
        label=_("Annual household income (yuan)"), required=False, max_digits=12, decimal_places=2, min_value=0
    )

    def __init__(self, *args, **kwargs):
        from .models import IncomeBand

        super().__init__(*args, **kwargs)
        self.fields["income_band"].choices = [("", _("Unknown")), *IncomeBand.choices]
