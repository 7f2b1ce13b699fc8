"""Budgets: budgets set through the gateway, tracked live on invoice snapshots, and the budgets API."""
