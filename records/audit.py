"""Audit events of the patient record: registration, consent, visits, break-glass, the patient index."""

from consortium.audit import AuditAction


class RecordsAudit(AuditAction):
    ACCESS_REPORT_PRINTED = "records.access_report_printed"
    ALLERGY_RECORDED = "records.allergy_recorded"
    BREAK_GLASS = "records.break_glass"
    BREAK_GLASS_REVIEWED = "records.break_glass_reviewed"
    CATALOGUE_IMPORTED = "records.catalogue_imported"
    CONSENT_RECORDED = "records.consent_recorded"
    ENCOUNTER_RECORDED = "records.encounter_recorded"
    ENCOUNTER_UPDATED = "records.encounter_updated"
    MATCH_REVIEW_DECIDED = "records.match_review_decided"
    NOTICE_ACKNOWLEDGED = "records.notice_acknowledged"
    PATIENT_EXACT = "records.patient_exact"
    PATIENT_LINKED = "records.patient_linked"
    PATIENT_NEW = "records.patient_new"
    PATIENT_REGISTERED = "records.patient_registered"
    PATIENT_REVIEW = "records.patient_review"
    PATIENT_UPDATED = "records.patient_updated"
    PATIENTS_MERGED = "records.patients_merged"
    PATIENTS_UNMERGED = "records.patients_unmerged"
