"""die_with_parent: a child that its parent's SIGKILL takes with it, armed only from the main thread."""

from __future__ import annotations

import subprocess
import sys
import threading

import psutil
import pytest

from shared.infra.parent_death import die_with_parent

# A parent that starts a long sleeper (with or without the preexec), prints its pid and waits.
PARENT = """
import subprocess, sys, time
from shared.infra.parent_death import die_with_parent
armed = sys.argv[1] == "armed"
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                         preexec_fn=die_with_parent() if armed else None)
print(child.pid, flush=True)
time.sleep(60)
"""

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")


def sleeper_after_parent_killed(mode: str) -> psutil.Process:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, mode], stdout=subprocess.PIPE)
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    return child


def test_the_child_dies_when_its_parent_is_killed() -> None:
    child = sleeper_after_parent_killed("armed")
    child.wait(5)  # raises TimeoutExpired if it lives on


def test_without_it_the_child_outlives_its_parent() -> None:
    child = sleeper_after_parent_killed("plain")
    try:
        with pytest.raises(psutil.TimeoutExpired):
            child.wait(0.5)
    finally:
        child.kill()


def test_it_is_not_armed_from_another_thread() -> None:
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(die_with_parent()))
    thread.start()
    thread.join()
    assert found == [None] and die_with_parent() is not None
