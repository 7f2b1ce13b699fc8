"""Priority classes: the one home of the rule that the gateway and the scheduler both apply.

The operator defines named classes, each an integer priority (AIFACTORY_PRIORITY_CLASSES, a JSON
object such as {"low": -100, "normal": 0, "high": 100}, and AIFACTORY_DEFAULT_PRIORITY_CLASS). A job
names a class; the gateway refuses an unknown class or one above what the job's project may use (its
maximum class, the default class unless the operator allows more); the scheduler turns the class into
the integer the engine orders and preempts by. Events written before classes existed carry a
tenant-chosen integer instead: it is clamped to the lowest class .. the default class, so no such
event outranks the default and no out-of-range integer reaches the database.

Pure: standard library only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

CLASS_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$"
# Far inside PostgreSQL's integer (int32), so a class's value is always stored as it is.
PRIORITY_LIMIT = 1_000_000_000
MAX_CLASSES = 32

DEFAULT_CLASSES: Mapping[str, int] = MappingProxyType({"low": -100, "normal": 0, "high": 100})
# The same value as a job's priority before classes existed (0), so queued jobs keep their rank.
DEFAULT_CLASS = "normal"


@dataclass(frozen=True)
class PriorityClasses:
    """The operator's classes and the default one; the constructor refuses a malformed set."""

    values: Mapping[str, int] = field(default_factory=lambda: DEFAULT_CLASSES)
    default: str = DEFAULT_CLASS

    def __post_init__(self) -> None:
        problem = _problem(self.values, self.default)
        if problem:
            raise ValueError(problem)
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    @classmethod
    def parse(cls, classes: str | Mapping[str, object], default: str = DEFAULT_CLASS) -> PriorityClasses:
        """From the setting's JSON text (or a parsed object); ValueError says what is wrong."""
        if isinstance(classes, str):
            try:
                classes = json.loads(classes)
            except json.JSONDecodeError as error:
                raise ValueError(f"priority classes are not JSON: {error}") from error
        if not isinstance(classes, Mapping):
            raise ValueError("priority classes must be a JSON object: class name -> integer priority")
        values: dict[str, int] = {}
        for name, value in classes.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"priority class {name!r}: the priority must be an integer, not {value!r}")
            values[str(name)] = value
        return cls(values, default)

    @property
    def lowest(self) -> int:
        return min(self.values.values())

    @property
    def default_value(self) -> int:
        return self.values[self.default]

    def refusal(self, requested: str, project_max: str | None) -> str | None:
        """Why a job of a project whose maximum class is `project_max` (None: the default class) may not
        name class `requested`; None when it may."""
        if requested not in self.values:
            return f"unknown priority class {requested!r}; one of {self.names()}"
        ceiling = self.ceiling(project_max)
        if self.values[requested] > ceiling:
            allowed = [n for n in self.names() if self.values[n] <= ceiling]
            return f"priority class {requested!r} is above what this project may use; one of {allowed}"
        return None

    def ceiling(self, project_max: str | None) -> int:
        """The highest priority a project may use: its maximum class's, the default class's if it has
        none (or names a class the operator has since removed)."""
        if project_max is None or project_max not in self.values:
            return self.default_value
        return self.values[project_max]

    def engine_priority(self, priority_class: str | None, legacy_priority: int = 0) -> int:
        """The integer the engine uses: the named class's; a class unknown here (the gateway's classes
        changed since) the default class's; no class (an event from before classes) the tenant's
        integer clamped to the lowest class .. the default class."""
        if priority_class is not None:
            return self.values.get(priority_class, self.default_value)
        return max(self.lowest, min(legacy_priority, self.default_value))

    def names(self) -> list[str]:
        """Class names, lowest priority first."""
        return sorted(self.values, key=lambda name: (self.values[name], name))


def _problem(values: Mapping[str, int], default: str) -> str | None:
    if not values:
        return "at least one priority class is needed"
    if len(values) > MAX_CLASSES:
        return f"at most {MAX_CLASSES} priority classes"
    for name, value in values.items():
        if not isinstance(name, str) or not re.match(CLASS_NAME_PATTERN, name):
            return f"priority class name {name!r}: 1-32 characters of a-z, 0-9 and inner '-', a letter first"
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > PRIORITY_LIMIT:
            return f"priority class {name!r}: an integer between -{PRIORITY_LIMIT} and {PRIORITY_LIMIT}"
    if default not in values:
        return f"the default priority class {default!r} is not one of {sorted(values)}"
    return None
