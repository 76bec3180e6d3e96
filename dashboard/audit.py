"""Audit events of the dashboard: expenditure warnings and household economics."""

from consortium.audit import AuditAction


class DashboardAudit(AuditAction):
    EXPENDITURE_WARNING_CLEARED = "dashboard.expenditure_warning_cleared"
    EXPENDITURE_WARNING_RAISED = "dashboard.expenditure_warning_raised"
    HOUSEHOLD_ECONOMICS_RECORDED = "dashboard.household_economics_recorded"
