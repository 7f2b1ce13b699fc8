"""Metering's internal HTTP API (usage queries), served inside the ServiceHost."""
