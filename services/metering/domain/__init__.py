"""Metering's error hierarchy. The pure rules it prices with (money, periods, meters, plans, commitments,
credits, budgets) are the shared pricing core's (the top-level `pricing` package); each feature's own
domain is under <feature>/domain."""
