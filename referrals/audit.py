"""Audit events of referrals: each transition of the table (``referral.<act>``), slots, follow-ups, escalations."""

from consortium.audit import AuditAction


class ReferralAudit(AuditAction):
    ACCEPT = "referral.accept"
    ARRIVE = "referral.arrive"
    ATTACHMENT_ADDED = "referral.attachment_added"
    CANCEL = "referral.cancel"
    COMPLETE = "referral.complete"
    CREATE = "referral.create"
    DISCHARGE = "referral.discharge"
    DUE_TIME_POLICY = "referral.due_time_policy"
    ESCALATED = "referral.escalated"
    EXPIRE = "referral.expire"
    FOLLOW_UP_DONE = "referral.follow_up_done"
    FOLLOW_UP_ESCALATED = "referral.follow_up_escalated"
    REDIRECT = "referral.redirect"
    REJECT = "referral.reject"
    REVIEW = "referral.review"
    SATISFACTION = "referral.satisfaction"
    SCHEDULE_ADDED = "referral.schedule_added"
    SCHEDULE_REMOVED = "referral.schedule_removed"
    SLOT_OPENED = "referral.slot_opened"
    START_TREATMENT = "referral.start_treatment"
    SUBMIT = "referral.submit"
