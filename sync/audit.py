"""Audit events of sync: endpoints, deliveries retried and replayed, inbound batches and their outcome."""

from consortium.audit import AuditAction


class SyncAudit(AuditAction):
    BATCH_FAILED = "sync.batch_failed"
    BATCH_LANDED = "sync.batch_landed"
    BATCH_PROCESSING = "sync.batch_processing"
    BATCH_RECEIVED = "sync.batch_received"
    DELIVERY_REPLAYED = "sync.delivery_replayed"
    DELIVERY_RETRIED = "sync.delivery_retried"
    ENDPOINT_CHANGED = "sync.endpoint_changed"
    ENDPOINT_DEACTIVATED = "sync.endpoint_deactivated"
    ENDPOINT_REGISTERED = "sync.endpoint_registered"
    ENDPOINT_REPLAYED_DEAD = "sync.endpoint_replayed_dead"
