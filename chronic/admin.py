from django.contrib import admin

from .models import Contract, Enrolment, FollowUp, Programme, ProgrammeVersion, Team, TeamMember


class ReadOnlyAdmin(admin.ModelAdmin):
    """Chronic-care rows change through the services (audited), not through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Programme)
class ProgrammeAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "consortium", "is_active"]


@admin.register(ProgrammeVersion)
class ProgrammeVersionAdmin(ReadOnlyAdmin):
    list_display = ["programme", "number", "created_at", "note"]


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ["name", "institution", "is_active"]


@admin.register(TeamMember)
class TeamMemberAdmin(ReadOnlyAdmin):
    list_display = ["team", "staff", "role"]


@admin.register(Enrolment)
class EnrolmentAdmin(ReadOnlyAdmin):
    list_display = ["pk", "programme", "institution", "status", "risk_level", "last_control", "next_due_on"]
    list_filter = ["status", "programme"]


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyAdmin):
    list_display = ["pk", "enrolment", "due_on", "status", "control", "trigger"]
    list_filter = ["status", "control"]


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ["pk", "team", "kind", "package", "starts_on", "ends_on", "status"]
