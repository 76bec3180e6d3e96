from django.contrib import admin

from .models import Referral, ReferralEvent


class ReferralEventInline(admin.TabularInline):
    model = ReferralEvent
    extra = 0
    readonly_fields = ["occurred_at", "actor", "from_status", "to_status", "note"]
    can_delete = False


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ["pk", "patient", "direction", "from_institution", "to_institution", "urgency", "status", "due_at"]
    list_filter = ["direction", "urgency", "status"]
    search_fields = ["patient__name", "reason"]
    raw_id_fields = ["patient", "source_encounter", "to_department"]
    readonly_fields = ["status", "created_at", "submitted_at", "decided_at"]
    inlines = [ReferralEventInline]
