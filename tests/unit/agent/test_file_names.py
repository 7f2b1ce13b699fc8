"""Job and allocation ids as file names."""

from __future__ import annotations

from services.agent.runtime.processes import safe_file_name


def test_plain_ids_are_kept_as_they_are() -> None:
    assert safe_file_name("job-42_a.b") == "job-42_a.b"


def test_other_ids_become_one_harmless_component_distinct_per_id() -> None:
    traversal = safe_file_name("../../etc/passwd")
    assert "/" not in traversal and not traversal.startswith(".")
    assert safe_file_name("a/b") != safe_file_name("a_b") != safe_file_name("a:b")
    assert safe_file_name("a/b") == safe_file_name("a/b")
