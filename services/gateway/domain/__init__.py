"""Pure gateway rules: standard library and shared/events contracts only, no I/O, no clock reads."""
