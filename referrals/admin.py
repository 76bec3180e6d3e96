from django.contrib import admin

from .models import FollowUpTask, Referral, ReferralDueTimePolicy, ReferralEvent, ReferralSlot, SatisfactionRating


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
    # The parties and the status change only through the workflow's services, which write the timeline.
    readonly_fields = ["direction", "from_institution", "to_institution", "status", "created_at", "submitted_at", "decided_at"]
    inlines = [ReferralEventInline]


@admin.register(ReferralDueTimePolicy)
class ReferralDueTimePolicyAdmin(admin.ModelAdmin):
    list_display = [
        "consortium",
        "routine_hours",
        "urgent_hours",
        "emergency_hours",
        "administrator_after_hours",
        "expire_after_hours",
    ]


@admin.register(ReferralSlot)
class ReferralSlotAdmin(admin.ModelAdmin):
    list_display = ["department", "starts_at", "capacity", "booked"]
    list_filter = ["department__institution"]
    readonly_fields = ["booked"]


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(admin.ModelAdmin):
    list_display = ["referral", "kind", "due_on", "status", "escalated_at"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["referral"]


@admin.register(SatisfactionRating)
class SatisfactionRatingAdmin(admin.ModelAdmin):
    list_display = ["referral", "score", "recorded_at"]
    raw_id_fields = ["referral"]
