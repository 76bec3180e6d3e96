"""Web forms of diagnostics: they parse input; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from consortium.models import Institution, Staff

from .models import KIND_MODALITIES, Centre, CentreService, Modality, Reader, RepeatReason, Urgency


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class OrderForm(forms.Form):
    service = forms.ModelChoiceField(label=_("Service"), queryset=CentreService.objects.none())
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.ROUTINE)
    reason = forms.CharField(label=_("Reason for the order"), widget=forms.Textarea(attrs={"rows": 2}))
    clinical_question = forms.CharField(label=_("Clinical question"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    body_site = forms.CharField(label=_("Body site"), required=False, max_length=100)
    files = MultipleFileField(
        label=_("Device files"), required=False, help_text=_("DICOM images, or the ECG cart's PDF, PNG or XML export.")
    )
    barcodes = forms.CharField(
        label=_("Sample barcodes"), required=False, help_text=_("One per line, for laboratory and pathology orders.")
    )
    repeat_reason = forms.ChoiceField(
        label=_("Reason for repeating a recognised test"),
        required=False,
        choices=[("", "—"), *RepeatReason.choices],
    )

    def __init__(self, *args, services=None, **kwargs):
        super().__init__(*args, **kwargs)
        if services is not None:
            self.fields["service"].queryset = services
        self.fields["service"].label_from_instance = lambda s: f"{s.centre.name} · {s.name} ({s.get_modality_display()})"

    def barcode_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("barcodes", "").splitlines() if line.strip()]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class ScheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(label=_("Time"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


class AttachmentForm(forms.Form):
    file = forms.FileField(label=_("File"))


class SampleForm(forms.Form):
    barcode = forms.CharField(label=_("Barcode"), max_length=32)


class ReportForm(forms.Form):
    findings = forms.CharField(label=_("Findings"), required=False, widget=forms.Textarea(attrs={"rows": 4}))
    impression = forms.CharField(label=_("Impression"), widget=forms.Textarea(attrs={"rows": 3}))
    result_code = forms.CharField(label=_("Coded result"), required=False, max_length=32)
    result_display = forms.CharField(label=_("Coded result text"), required=False, max_length=200)
    values = forms.CharField(
        label=_("Values"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line: code = value (e.g. K = 6.8)."),
    )
    critical_description = forms.CharField(
        label=_("Critical finding"), required=False, max_length=300, help_text=_("Fill in only if the result is critical.")
    )

    def observation_rows(self) -> list[dict]:
        rows = []
        for line in self.cleaned_data.get("values", "").splitlines():
            if not line.strip():
                continue
            code, _sep, value = line.partition("=")
            rows.append({"code": code.strip(), "value": value.strip()})
        return rows


class AmendForm(ReportForm):
    reason = forms.CharField(label=_("Reason for the amendment"), widget=forms.Textarea(attrs={"rows": 2}))


class AcknowledgeForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, max_length=300)


class CloseCriticalForm(forms.Form):
    action_taken = forms.CharField(label=_("Action taken"), widget=forms.Textarea(attrs={"rows": 2}))


class ConsultationForm(forms.Form):
    centre = forms.ModelChoiceField(label=_("Consultation centre"), queryset=Centre.objects.none())
    question = forms.CharField(label=_("Question for the specialist"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, centres=None, **kwargs):
        super().__init__(*args, **kwargs)
        if centres is not None:
            self.fields["centre"].queryset = centres


class ConsultationScheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(label=_("Time"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    participants = forms.CharField(label=_("Participants"), required=False, max_length=300)
    meeting_link = forms.URLField(label=_("Meeting link"), required=False, assume_scheme="https")


class OpinionForm(forms.Form):
    opinion = forms.CharField(label=_("Opinion"), widget=forms.Textarea(attrs={"rows": 4}))
    recommendations = forms.CharField(label=_("Recommendations"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    recommends_referral = forms.BooleanField(label=_("Recommend an upward referral"), required=False)


class CentreForm(forms.ModelForm):
    class Meta:
        model = Centre
        fields = [
            "code",
            "name",
            "kind",
            "institution",
            "consortium",
            "department",
            "critical_ack_minutes",
            "is_active",
            "served_institutions",
        ]
        widgets = {"served_institutions": forms.CheckboxSelectMultiple}

    def __init__(self, *args, institutions=None, **kwargs):
        super().__init__(*args, **kwargs)
        if institutions is not None:
            self.fields["institution"].queryset = institutions.filter(level__in=["county_hospital", "city_hospital"])
            self.fields["served_institutions"].queryset = institutions
        self.fields["department"].required = False


class ServiceForm(forms.ModelForm):
    class Meta:
        model = CentreService
        fields = [
            "code",
            "name",
            "modality",
            "body_site",
            "specimen",
            "turnaround_routine_hours",
            "turnaround_urgent_hours",
            "turnaround_stat_hours",
            "fee_item_code",
            "fee_name",
            "fee_amount",
            "fee_category",
            "fee_catalogue_class",
            "requires_second_reader",
        ]


class ReaderForm(forms.Form):
    staff = forms.ModelChoiceField(label=_("Staff member"), queryset=Staff.objects.none())
    modalities = forms.MultipleChoiceField(
        label=_("Qualified modalities"), choices=Modality.choices, widget=forms.CheckboxSelectMultiple
    )
    qualification = forms.CharField(label=_("Qualification"), required=False, max_length=200)

    def __init__(self, *args, centre: Centre, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].queryset = Staff.objects.filter(institution=centre.institution).exclude(
            pk__in=Reader.objects.filter(centre=centre).values("staff_id")
        )
        allowed = KIND_MODALITIES.get(centre.kind, set())
        self.fields["modalities"].choices = [(value, label) for value, label in Modality.choices if value in allowed]


def member_institutions(consortium) -> "forms.QuerySet[Institution]":
    return Institution.objects.filter(memberships__consortium=consortium).distinct().order_by("code")
