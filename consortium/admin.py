from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import ApiClient, AuditEvent, Consortium, Department, Institution, InsuranceOffice, Membership, Staff
from .permissions import Action, scope


class ScopedAdmin(admin.ModelAdmin):
    """Admin pages show a non-superuser only the rows the permission module lets them act on."""

    scope_action: Action = Action.VIEW_INSTITUTION
    scope_field = "institution"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return scope(queryset, request.user, self.scope_action, self.scope_field)


class DepartmentInline(admin.TabularInline):
    model = Department
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["institution"]


@admin.register(Institution)
class InstitutionAdmin(ScopedAdmin):
    scope_field = "pk"
    list_display = ["code", "name", "level", "grade", "region_code", "is_rural", "is_active"]
    list_filter = ["level", "grade", "is_rural", "is_active"]
    search_fields = ["code", "name", "region_code"]
    autocomplete_fields = ["parent"]
    inlines = [DepartmentInline]


@admin.register(Consortium)
class ConsortiumAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region_code"]
    search_fields = ["code", "name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    scope_action = Action.MANAGE_MEMBERSHIPS
    list_display = ["consortium", "institution", "role", "agreement_start", "agreement_end"]
    list_filter = ["consortium", "role"]
    search_fields = ["institution__name", "institution__code", "agreement_reference"]
    autocomplete_fields = ["institution"]


@admin.register(Department)
class DepartmentAdmin(ScopedAdmin):
    list_display = ["institution", "code", "name", "accepts_referrals"]
    list_filter = ["accepts_referrals", "institution__level"]
    search_fields = ["name", "code", "institution__name"]
    autocomplete_fields = ["institution"]


@admin.register(InsuranceOffice)
class InsuranceOfficeAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region_code"]
    search_fields = ["code", "name"]


@admin.register(Staff)
class StaffAdmin(ScopedAdmin):
    scope_action = Action.MANAGE_STAFF
    list_display = ["display_name", "user", "role", "institution", "department", "insurance_office", "consortium"]
    list_filter = ["role", "institution__level"]
    search_fields = ["display_name", "user__username", "institution__name"]
    autocomplete_fields = ["user", "institution", "department"]


@admin.register(ApiClient)
class ApiClientAdmin(ScopedAdmin):
    scope_action = Action.MANAGE_STAFF
    list_display = ["name", "kind", "institution", "insurance_office", "token_prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["kind"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def save_model(self, request, obj, form, change):
        if not change:
            token = obj.issue_token()
            messages.warning(
                request, _("API token for %(name)s (shown once, store it now): %(token)s") % {"name": obj.name, "token": token}
            )
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Revoke the selected API clients' tokens"))
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.success(request, _("%(count)d token(s) revoked.") % {"count": count})


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "action", "object_type", "object_id", "actor", "institution"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "action"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
