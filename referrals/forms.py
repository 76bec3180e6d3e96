"""Web forms of the referral pages; they only parse input, the rules live in :mod:`referrals.services`."""

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consortium.models import Department, Membership
from records.forms import RowForm, RowFormSet
from records.widgets import HtmlDateField, HtmlDateTimeField

from .models import FollowUpKind, ReferralSlot, ReferralStatus, Urgency, Weekday
from .selectors import departments_taking_referrals, free_places, open_slots, referral_departments_for


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class DepartmentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _("%(institution)s · %(department)s (open places: %(free)d)") % {
            "institution": obj.institution.name,
            "department": obj.name,
            "free": getattr(obj, "free_places", 0),
        }


class ReferralCreateForm(forms.Form):
    to_department = DepartmentChoiceField(label=_("Refer to"), queryset=Department.objects.none())
    urgency = forms.ChoiceField(label=_("Urgency"), choices=Urgency.choices, initial=Urgency.ROUTINE)
    reason = forms.CharField(label=_("Reason for referral"), widget=forms.Textarea(attrs={"rows": 4}), max_length=2000)
    attachments = MultipleFileField(
        label=_("Attachments"), required=False, help_text=_("PDF, PNG or JPEG; at most 10 files of 10 MB each.")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_department"].queryset = referral_departments_for(user)


class AttachmentForm(forms.Form):
    file = forms.FileField(
        label=_("Add an attachment"),
        help_text=_("PDF, PNG or JPEG; at most 10 files of 10 MB each."),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"}),
    )


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class SlotChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return _("%(department)s · %(when)s (free: %(free)d)") % {
            "department": obj.department.name,
            "when": timezone.localtime(obj.starts_at).strftime("%Y-%m-%d %H:%M"),
            "free": obj.free,
        }


class AcceptForm(NoteForm):
    """Accept with a slot; for an upward referral, or a time outside the schedule with its reason.

    ``no_free_slot`` tells the page to say that none is open and to link to the schedule.
    """

    field_order = ["slot", "appointment_at", "outside_schedule_reason", "note"]

    slot = SlotChoiceField(
        label=_("Appointment slot"),
        queryset=ReferralSlot.objects.none(),
        required=False,
        empty_label=_("— outside the schedule —"),
    )
    appointment_at = HtmlDateTimeField(label=_("Appointment"), required=False)
    outside_schedule_reason = forms.CharField(
        label=_("Reason for a time outside the schedule"),
        required=False,
        max_length=500,
        help_text=_("Needed only when no slot is chosen."),
    )

    def __init__(self, *args, referral, **kwargs):
        super().__init__(*args, **kwargs)
        self.no_free_slot = False
        if referral.direction == "up":
            departments = Department.objects.filter(institution=referral.to_institution_id).values("pk")
            self.fields["slot"].queryset = open_slots(departments)
            self.no_free_slot = not self.fields["slot"].queryset.exists()
            if self.no_free_slot:
                del self.fields["slot"]
            self.fields["appointment_at"].label = _("Appointment time outside the schedule")
        else:
            del self.fields["slot"]
            del self.fields["outside_schedule_reason"]


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class RedirectForm(ReasonForm):
    to_department = DepartmentChoiceField(label=_("Redirect to"), queryset=Department.objects.none())

    def __init__(self, *args, referral, **kwargs):
        super().__init__(*args, **kwargs)
        members = Membership.objects.co_members_of(referral.from_institution_id).values("institution_id")
        self.fields["to_department"].queryset = (
            Department.objects.filter(accepts_referrals=True, institution__in=members, institution__is_active=True)
            .exclude(institution=referral.from_institution_id)
            .exclude(pk=referral.to_department_id)
            .select_related("institution")
            .annotate(free_places=free_places())
        )


class QueueFilterForm(forms.Form):
    urgency = forms.ChoiceField(label=_("Urgency"), required=False, choices=[("", _("Any"))] + Urgency.choices)
    department = forms.TypedChoiceField(label=_("Department"), required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Awaiting decision"))] + [(s.value, s.label) for s in ReferralStatus if s != ReferralStatus.DRAFT],
    )
    waiting = forms.ChoiceField(
        label=_("Waiting"),
        required=False,
        choices=[("", _("Any time")), ("4h", _("Over 4 hours")), ("24h", _("Over 24 hours")), ("72h", _("Over 72 hours"))],
    )

    def __init__(self, *args, institution, **kwargs):
        super().__init__(*args, **kwargs)
        departments = departments_taking_referrals(institution.pk)
        self.fields["department"].choices = [("", _("Any")), *departments]


class DischargeForm(forms.Form):
    admitted_on = HtmlDateField(label=_("Admitted on"), required=False)
    discharged_on = HtmlDateField(label=_("Discharged on"))
    discharge_summary = forms.CharField(label=_("Discharge summary"), widget=forms.Textarea(attrs={"rows": 5}), max_length=4000)
    instructions = forms.CharField(
        label=_("Discharge instructions"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=4000
    )

    def clean(self):
        data = super().clean()
        admitted, discharged = data.get("admitted_on"), data.get("discharged_on")
        if discharged and discharged > timezone.localdate():
            self.add_error("discharged_on", _("The discharge date is not in the future."))
        if admitted and discharged and admitted > discharged:
            self.add_error("admitted_on", _("The patient was admitted before the discharge."))
        return data

    def discharge_data(self, diagnoses: list[dict], medicines: list[dict]) -> dict:
        data = {
            "diagnoses": diagnoses,
            "medicines": medicines,
            "instructions": self.cleaned_data["instructions"],
            "discharged_on": self.cleaned_data["discharged_on"],
        }
        if self.cleaned_data.get("admitted_on"):
            data["admitted_on"] = self.cleaned_data["admitted_on"]
        return data


class FollowUpTaskForm(RowForm):
    """One follow-up of the discharge plan: a row with anything typed needs its kind and due date."""

    content_fields = ("kind", "due_on", "instructions")
    required_fields = ("kind", "due_on")
    required_messages = {
        "kind": _("Choose the kind of follow-up."),
        "due_on": _("Give the due date of this follow-up."),
    }

    kind = forms.ChoiceField(label=_("Follow-up"), choices=[("", "—")] + FollowUpKind.choices, required=False)
    due_on = HtmlDateField(label=_("Due on"), required=False)
    instructions = forms.CharField(label=_("Instructions"), required=False, max_length=300)

    def clean_due_on(self):
        due_on = self.cleaned_data["due_on"]
        if due_on and due_on < timezone.localdate():
            raise forms.ValidationError(_("A follow-up is due today or later."))
        return due_on


FollowUpFormSet = forms.formset_factory(
    FollowUpTaskForm, formset=RowFormSet, extra=1, max_num=12, validate_max=True, absolute_max=12
)


class SlotRowForm(RowForm):
    """One slot of the batch on the capacity page."""

    content_fields = ("department", "starts_at", "capacity")
    required_fields = ("department", "starts_at", "capacity")
    required_messages = {
        "department": _("Choose the department of this slot."),
        "starts_at": _("Give the start time of this slot."),
        "capacity": _("Give the number of places of this slot."),
    }

    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.none(), required=False)
    starts_at = HtmlDateTimeField(label=_("Starts at"), required=False)
    capacity = forms.IntegerField(label=_("Places"), min_value=1, max_value=500, required=False)

    def __init__(self, *args, institution, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(
            institution=institution, accepts_referrals=True
        ).select_related("institution")


class ScheduleRowForm(RowForm):
    """One row of a department's weekly schedule: a day, a start time and the number of places."""

    content_fields = ("department", "weekday", "starts_at", "capacity")
    required_fields = ("department", "weekday", "starts_at", "capacity")
    required_messages = {
        "department": _("Choose the department of this slot."),
        "weekday": _("Choose the day of the week."),
        "starts_at": _("Give the start time of this slot."),
        "capacity": _("Give the number of places of this slot."),
    }

    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.none(), required=False)
    weekday = forms.TypedChoiceField(
        label=_("Day"), choices=[("", "—"), *Weekday.choices], coerce=int, empty_value=None, required=False
    )
    starts_at = forms.TimeField(
        label=_("Time"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"), input_formats=["%H:%M"]
    )
    capacity = forms.IntegerField(label=_("Places"), min_value=1, max_value=500, required=False)

    def __init__(self, *args, institution, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.filter(
            institution=institution, accepts_referrals=True
        ).select_related("institution")


ScheduleFormSet = forms.formset_factory(
    ScheduleRowForm, formset=RowFormSet, extra=1, max_num=60, validate_max=True, absolute_max=60
)


SlotFormSet = forms.formset_factory(SlotRowForm, formset=RowFormSet, extra=1, max_num=60, validate_max=True, absolute_max=60)


class FollowUpDoneForm(forms.Form):
    outcome = forms.CharField(label=_("Outcome"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class SatisfactionForm(forms.Form):
    score = forms.TypedChoiceField(
        label=_("Satisfaction"),
        coerce=int,
        choices=[(n, str(n)) for n in range(5, 0, -1)],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


def default_follow_up_plan(today: datetime.date) -> list[dict]:
    """Initial rows of the discharge form: a revisit in a week and a medication review in a month."""
    return [
        {"kind": FollowUpKind.REVISIT, "due_on": today + datetime.timedelta(days=7)},
        {"kind": FollowUpKind.MEDICATION_REVIEW, "due_on": today + datetime.timedelta(days=30)},
    ]


class DueTimePolicyForm(forms.Form):
    routine_hours = forms.IntegerField(label=_("Routine: hours to decide"), min_value=1, max_value=720)
    urgent_hours = forms.IntegerField(label=_("Urgent: hours to decide"), min_value=1, max_value=720)
    emergency_hours = forms.IntegerField(label=_("Emergency: hours to decide"), min_value=1, max_value=720)
    administrator_after_hours = forms.IntegerField(
        label=_("Alert the hospital administrator after (hours past due)"), min_value=1, max_value=720
    )
    expire_after_hours = forms.IntegerField(label=_("Expire after (hours past due)"), min_value=1, max_value=720)
