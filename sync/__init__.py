"""Background sync: outbound push of outbox events to hospital endpoints and inbound visit batches."""
