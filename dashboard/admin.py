"""Admin: the warning thresholds per consortium (configurable, never hard-coded) and read-only roll-ups."""

from django.contrib import admin

from .models import IndicatorValue, WarningPolicy


@admin.register(WarningPolicy)
class WarningPolicyAdmin(admin.ModelAdmin):
    list_display = ["consortium", "absolute_threshold", "relative_share", "window_months"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        staff = getattr(request.user, "staff", None)
        return queryset.filter(consortium_id=getattr(staff, "consortium_id", None))


@admin.register(IndicatorValue)
class IndicatorValueAdmin(admin.ModelAdmin):
    """Computed by the roll-ups; shown to superusers for checking, never edited by hand."""

    list_display = ["indicator", "scope", "scope_id", "month", "numerator", "denominator", "value", "computed_at"]
    list_filter = ["indicator", "scope", "month"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.none()  # others read the dashboard
