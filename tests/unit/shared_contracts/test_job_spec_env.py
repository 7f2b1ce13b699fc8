"""A job's environment holds only what a process environment can: each bad entry named in the error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events.jobs import JobSpec


@pytest.mark.parametrize(
    ("env", "name", "message"),
    [
        ({"A=B": "1"}, "A=B", "must not contain '=' or NUL"),
        ({"": "1"}, "", "must not be empty"),
        ({"A\0B": "1"}, "A\0B", "must not contain '=' or NUL"),
        ({"OK": "x\0y"}, "OK", "value must not contain NUL"),
        ({"OK": "\ud800"}, "OK", "no lone surrogates"),
    ],
)
def test_an_entry_a_process_environment_cannot_hold_is_refused_by_name(
    env: dict[str, str], name: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        JobSpec(name="j", command=["x"], env={"FINE": "1"} | env)
    [error] = raised.value.errors()
    assert error["loc"] == ("env", name) and message in error["msg"]


def test_ordinary_names_and_values_are_kept() -> None:
    env = {"PATH": "/bin", "lower_case": "", "ÜNÏCODE": "värde=with=equals"}
    assert JobSpec(name="j", command=["x"], env=env).env == env
