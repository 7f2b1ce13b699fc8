"""Chargeback and showback: what each project's GPU use cost the fleet, idle GPUs included."""
