"""The gateway: HTTP front door (tenants, projects, API keys, jobs, invoices, fleet) and its read models."""
