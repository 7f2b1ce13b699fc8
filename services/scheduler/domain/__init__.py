"""Pure scheduling rules: snapshots in, decisions out. Standard library and shared event contracts only."""
