from django.contrib import admin

from .models import (
    ApiClient,
    AuditEvent,
    Consortium,
    Department,
    Institution,
    InsuranceOffice,
    MachineAccessRequest,
    Membership,
    Secondment,
    Staff,
)
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


class ReadOnlyAdmin(ScopedAdmin):
    """Shown, never written here: changes go through the services, with their checks, approval and audit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiClient)
class ApiClientAdmin(ReadOnlyAdmin):
    """API clients are issued, rotated and revoked on the machine-access pages (``consortium.tokens``), not here."""

    scope_action = Action.MANAGE_STAFF
    list_display = ["name", "kind", "institution", "insurance_office", "token_prefix", "created_at", "expires_at"]
    list_display += ["last_used_at", "revoked_at"]
    list_filter = ["kind"]
    readonly_fields = [f.name for f in ApiClient._meta.fields if f.name not in ("token_hash", "previous_token_hash")]
    exclude = ["token_hash", "previous_token_hash"]


@admin.register(MachineAccessRequest)
class MachineAccessRequestAdmin(ReadOnlyAdmin):
    scope_action = Action.REQUEST_MACHINE_ACCESS
    list_display = ["pk", "kind", "status", "institution", "insurance_office", "requested_by", "requested_at", "decided_by"]
    list_filter = ["kind", "status"]
    readonly_fields = [f.name for f in MachineAccessRequest._meta.fields if f.name != "sealed_secret"]
    exclude = ["sealed_secret"]  # shown once, to the requester, on the machine-access page; never here


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


@admin.register(Secondment)
class SecondmentAdmin(admin.ModelAdmin):
    """Read-only here: secondments are recorded on the memberships pages, through the audited service."""

    list_display = ("physician_name", "specialty", "from_institution", "to_institution", "starts_on", "ends_on")
    list_filter = ("consortium",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
