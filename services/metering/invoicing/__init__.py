"""Invoicing: price books, rating, the charge ledger, invoices through their life, and their rebuild."""
