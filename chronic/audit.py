"""Audit events of chronic care: programme versions, screening, each transition of the three tables, teams."""

from consortium.audit import AuditAction


class ChronicAudit(AuditAction):
    CONTRACT_END = "chronic.contract_end"
    CONTRACT_RENEW = "chronic.contract_renew"
    CONTRACT_SIGNED = "chronic.contract_signed"
    ENROLMENT_CANDIDATE = "chronic.enrolment_candidate"
    ENROLMENT_DECLINE = "chronic.enrolment_decline"
    ENROLMENT_DISCHARGE = "chronic.enrolment_discharge"
    ENROLMENT_ENROL = "chronic.enrolment_enrol"
    FOLLOW_UP_MISSED = "chronic.follow_up_missed"
    FOLLOW_UP_RECORDED = "chronic.follow_up_recorded"
    PROGRAMME_CREATED = "chronic.programme_created"
    PROGRAMME_EDITED = "chronic.programme_edited"
    PROGRAMME_VERSIONED = "chronic.programme_versioned"
    REFERRAL_PROPOSED = "chronic.referral_proposed"
    RETURNED_FROM_HOSPITAL = "chronic.returned_from_hospital"
    SCREENING = "chronic.screening"
    TEAM_CREATED = "chronic.team_created"
