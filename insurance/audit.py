"""Audit events of insurance: policies, claims, batches, adjudication, settlement files, reconciliation."""

from consortium.audit import AuditAction


class InsuranceAudit(AuditAction):
    BATCH_SUBMITTED = "insurance.batch_submitted"
    CLAIM_ADJUDICATED = "insurance.claim_adjudicated"
    CLAIM_CREATED = "insurance.claim_created"
    CLAIM_READJUDICATED = "insurance.claim_readjudicated"
    CLAIM_REVERSED = "insurance.claim_reversed"
    DISCREPANCY_UPDATED = "insurance.discrepancy_updated"
    FUND_CLEARING_PREVIEWED = "insurance.fund_clearing_previewed"
    FUND_CREATED = "insurance.fund_created"
    FUND_ENTRY_POSTED = "insurance.fund_entry_posted"
    FUND_ENTRY_REVERSED = "insurance.fund_entry_reversed"
    FUND_VIEWED = "insurance.fund_viewed"
    PERFORMANCE_FROZEN = "insurance.performance_frozen"
    OUT_OF_COUNTY_LANDED = "insurance.out_of_county_landed"
    PERIOD_CLOSED = "insurance.period_closed"
    PERIOD_REOPENED = "insurance.period_reopened"
    POLICY_PUBLISHED = "insurance.policy_published"
    POLICY_VERSIONED = "insurance.policy_versioned"
    RECONCILIATION_RUN = "insurance.reconciliation_run"
    SETTLEMENT_UPLOADED = "insurance.settlement_uploaded"
