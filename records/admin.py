from django.contrib import admin

from .models import ChargeItem, Diagnosis, Encounter, Patient


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = ["name", "sex", "birth_date", "masked_resident_id", "home_institution", "consents_to_sharing"]
    list_filter = ["sex", "consents_to_sharing", "home_institution__level"]
    search_fields = ["name", "name_pinyin", "insurance_number"]
    autocomplete_fields = ["home_institution"]
    readonly_fields = ["created_at", "updated_at"]


class DiagnosisInline(admin.TabularInline):
    model = Diagnosis
    extra = 0


class ChargeItemInline(admin.TabularInline):
    model = ChargeItem
    extra = 0


@admin.register(Encounter)
class EncounterAdmin(admin.ModelAdmin):
    list_display = ["started_at", "patient", "institution", "kind", "attending"]
    list_filter = ["kind", "institution__level"]
    search_fields = ["patient__name", "external_id"]
    date_hierarchy = "started_at"
    autocomplete_fields = ["patient", "institution"]
    raw_id_fields = ["attending", "department"]
    inlines = [DiagnosisInline, ChargeItemInline]
