"""Admin for schemes and policies: a policy in force is read-only; change it by making a new version."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Enrolment, OfficeScheme, Policy, PolicyLevelRule, Scheme


@admin.register(Scheme)
class SchemeAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]


@admin.register(OfficeScheme)
class OfficeSchemeAdmin(admin.ModelAdmin):
    list_display = ["office", "scheme"]


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    list_display = ["patient", "scheme", "year", "insurance_number"]
    list_filter = ["scheme", "year"]
    raw_id_fields = ["patient"]
    search_fields = ["insurance_number"]


class LevelRuleFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        if self.instance.pk and not self.instance.is_editable and self.has_changed():
            raise ValidationError(_("A policy that is or was in force cannot be changed; make a new version."))
        levels = [f.cleaned_data.get("level") for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(levels) != len(set(levels)):
            raise ValidationError(_("Each institution level may have only one rule."))


class PolicyLevelRuleInline(admin.TabularInline):
    model = PolicyLevelRule
    formset = LevelRuleFormSet
    extra = 0

    def has_add_permission(self, request, obj=None):
        return obj is None or obj.is_editable

    def has_change_permission(self, request, obj=None):
        return obj is None or obj.is_editable

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.is_editable


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = ["scheme", "year", "version", "class_b_self_pay_share", "unreferred_deductible_carried", "notes"]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not self.instance.is_editable and self.has_changed():
            raise ValidationError(_("A policy that is or was in force cannot be changed; make a new version."))
        return cleaned


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = ["scheme", "year", "version", "status", "published_at"]
    list_filter = ["scheme", "year", "status"]
    inlines = [PolicyLevelRuleInline]
    actions = ["publish", "make_new_version"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return ["scheme", "year", "version", "status", "class_b_self_pay_share", "unreferred_deductible_carried", "notes"]
        return ["status"]

    def has_change_permission(self, request, obj=None):
        """A version that is or was in force is shown read-only: change it by making a new version."""
        return super().has_change_permission(request, obj) and (obj is None or obj.is_editable)

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.is_editable

    @admin.action(description=_("Put the selected draft in force"))
    def publish(self, request, queryset):
        for policy in queryset:
            try:
                services.publish_policy(policy=policy, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"{policy}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, _("%(policy)s is now in force.") % {"policy": policy}, messages.SUCCESS)

    @admin.action(description=_("Make a new draft version of the selected policy"))
    def make_new_version(self, request, queryset):
        for policy in queryset:
            draft = services.new_policy_version(policy=policy, actor=request.user)
            self.message_user(request, _("Made %(policy)s.") % {"policy": draft}, messages.SUCCESS)
