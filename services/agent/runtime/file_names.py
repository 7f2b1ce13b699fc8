"""Ids (jobs, allocations, tenants) as file names."""

from __future__ import annotations

import hashlib
import re


def safe_file_name(text: str) -> str:
    """Ids become file names: one harmless path component, distinct for distinct ids."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", text).lstrip(".")
    if safe == text:
        return safe
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
