from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consortium.models import Institution, OutboxEventType


class EndpointForm(forms.Form):
    institution = forms.ModelChoiceField(label=_("Institution"), queryset=Institution.objects.none())
    name = forms.CharField(label=pgettext_lazy("organisation", "Name"), max_length=100)
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(value, OutboxEventType(value).label) for value in ("encounter", "referral", "discharge")],
        widget=forms.CheckboxSelectMultiple,
    )

    reason = forms.CharField(
        label=_("Reason (for the approving administrator)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, institutions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institution"].queryset = institutions


class EndpointChangeForm(EndpointForm):
    """Change an endpoint's name, URL or events (its institution stays)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, institutions=Institution.objects.none(), **kwargs)
        del self.fields["institution"]
