"""Webhooks: tenants' endpoints, signed deliveries of billing events with retries, and the webhooks API."""
