from django.contrib import admin

from .models import AccessLog, BreakGlassAccess, ChargeItem, Consent, Diagnosis, Encounter, MatchReview, Patient, PatientMerge


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """Append-only trails: visible to administrators, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "patient_id", "user", "api_client", "institution", "reason", "path"]
    list_filter = ["reason"]
    date_hierarchy = "occurred_at"


@admin.register(BreakGlassAccess)
class BreakGlassAccessAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "patient_id", "user", "institution", "expires_at", "reviewed_at"]


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    list_display = ["recorded_at", "patient_id", "granted", "institution", "recorded_by"]


@admin.register(PatientMerge)
class PatientMergeAdmin(ReadOnlyAdmin):
    list_display = ["merged_at", "survivor_id", "merged_id", "merged_by", "unmerged_at"]


@admin.register(MatchReview)
class MatchReviewAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "patient_id", "candidate_id", "score", "status", "source"]
    list_filter = ["status"]
