"""Usage: raw usage and allocations, minute / hour / day rollups, batch rating, waiting usage, the usage API."""
