"""Admin pages for consortium administrators: centres with their services and readers, recognised items.

Saving goes through :mod:`diagnostics.catalogue`, so the admin keeps the same rules as the web pages
(a centre serves only members of its consortium, a reader works at the running hospital)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from consortium.errors import ApplicationError
from consortium.permissions import Action, scope

from . import catalogue
from .models import Analyte, Centre, CentreService, CriticalValue, Order, Reader, RecognisedItem


class CentreServiceInline(admin.TabularInline):
    model = CentreService
    extra = 0


class ReaderInline(admin.TabularInline):
    model = Reader
    extra = 0
    autocomplete_fields = ["staff"]


class CentreAdminForm(forms.ModelForm):
    class Meta:
        model = Centre
        fields = [
            "code",
            "name",
            "kind",
            "institution",
            "consortium",
            "department",
            "served_institutions",
            "critical_ack_minutes",
            "is_active",
        ]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        instance = Centre(**{k: v for k, v in cleaned.items() if k != "served_institutions"})
        served = [i.pk for i in cleaned.get("served_institutions") or []]
        try:
            catalogue.check_centre(instance, served)
        except ApplicationError as error:
            raise ValidationError({error.field or "__all__": error.message}) from None
        return cleaned


@admin.register(Centre)
class CentreAdmin(admin.ModelAdmin):
    form = CentreAdminForm
    list_display = ["code", "name", "kind", "institution", "consortium", "critical_ack_minutes", "is_active"]
    list_filter = ["kind", "consortium", "is_active"]
    search_fields = ["code", "name", "institution__name"]
    filter_horizontal = ["served_institutions"]
    inlines = [CentreServiceInline, ReaderInline]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else scope(queryset, request.user, Action.CONFIGURE_DIAGNOSTICS)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        served = list(form.instance.served_institutions.values_list("pk", flat=True))
        catalogue.save_centre(actor=request.user, centre=form.instance, served_ids=served)


@admin.register(CentreService)
class CentreServiceAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "centre", "modality", "fee_amount", "requires_second_reader", "is_active"]
    list_filter = ["modality", "centre"]
    search_fields = ["code", "name"]


@admin.register(Analyte)
class AnalyteAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "service", "unit", "reference_low", "reference_high", "critical_low", "critical_high"]
    list_filter = ["service__centre"]


@admin.register(Reader)
class ReaderAdmin(admin.ModelAdmin):
    list_display = ["staff", "centre", "modalities", "qualification", "is_active"]
    list_filter = ["centre", "is_active"]
    autocomplete_fields = ["staff"]


@admin.register(RecognisedItem)
class RecognisedItemAdmin(admin.ModelAdmin):
    list_display = ["service_code", "name", "consortium", "validity_days", "scope", "is_active"]
    list_filter = ["consortium", "scope", "is_active"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["accession", "service", "ordering_institution", "centre", "urgency", "status", "requested_at", "reported_at"]
    list_filter = ["status", "urgency", "centre"]
    search_fields = ["accession"]
    readonly_fields = [f.name for f in Order._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CriticalValue)
class CriticalValueAdmin(admin.ModelAdmin):
    list_display = ["order", "description", "status", "raised_at", "ack_due_at", "acknowledged_at", "closed_at"]
    list_filter = ["status"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
