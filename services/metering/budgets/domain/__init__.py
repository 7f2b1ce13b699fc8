"""Budgets: pure rules: no I/O, no clock reads, no framework (an import-linter contract keeps it so)."""
