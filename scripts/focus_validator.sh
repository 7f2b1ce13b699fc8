#!/usr/bin/env bash
# Builds .venv-focus, a virtual environment holding only the FinOps Foundation's focus-validator.
# Its FOCUS 1.2 rules ship in releases 2.x, which need Python >= 3.12, newer than .venv may be; the
# FOCUS test (tests/integration/metering_focus) runs the validator with this environment's interpreter.
# Sourced by scripts/test.sh, which then exports AIFACTORY_FOCUS_VALIDATOR_PYTHON; runs alone too.
# Never aborts its caller: without a Python >= 3.12 it says why, and the test skips (or fails under CI).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FOCUS_VENV=".venv-focus"
# Verified together. focus-validator 2.2.1 caps numpy below 2 but leaves pyarrow open, and pyarrow
# releases after 22 import only with numpy 2 ("pyarrow requires NumPy 2.0 or newer").
FOCUS_REQUIREMENTS=("focus-validator==2.2.1" "pyarrow==22.0.0")

runs_python_3_12_or_newer() {
  "$1" -c 'import sys; raise SystemExit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

# Prints the first Python >= 3.12 found: on PATH, then among pyenv's installed versions, oldest first:
# 3.12 is the one this pin was verified with.
pick_focus_python() {
  local candidate pyenv_root
  for candidate in python3.12 python3.13; do
    if command -v "$candidate" >/dev/null 2>&1 && runs_python_3_12_or_newer "$candidate"; then
      command -v "$candidate"
      return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    pyenv_root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
  else
    pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  fi
  for candidate in $(ls -d "$pyenv_root"/versions/3.1[2-9]* 2>/dev/null | sort -V); do
    if runs_python_3_12_or_newer "$candidate/bin/python3"; then
      echo "$candidate/bin/python3"
      return 0
    fi
  done
  return 1
}

# The environment records what it was built with, so a changed pin rebuilds it.
focus_validator_installed() {
  [ -x "$FOCUS_VENV/bin/python" ] &&
    [ "$(cat "$FOCUS_VENV/requirements.txt" 2>/dev/null)" = "${FOCUS_REQUIREMENTS[*]}" ] &&
    "$FOCUS_VENV/bin/python" -c 'import focus_validator' >/dev/null 2>&1
}

build_focus_validator_env() {
  local python
  if focus_validator_installed; then
    return 0
  fi
  if ! python="$(pick_focus_python)"; then
    echo "focus-validator: no Python >= 3.12 found (tried python3.12 and python3.13 on PATH and" \
      "pyenv's versions/3.12+); the FOCUS validator test will be skipped (and fails when CI=true)." >&2
    return 0
  fi
  echo "focus-validator: building $FOCUS_VENV with $python ($("$python" -V 2>&1))"
  rm -rf "$FOCUS_VENV"
  if ! { "$python" -m venv "$FOCUS_VENV" &&
    "$FOCUS_VENV/bin/python" -m pip install --quiet "${FOCUS_REQUIREMENTS[@]}" &&
    echo "${FOCUS_REQUIREMENTS[*]}" >"$FOCUS_VENV/requirements.txt"; }; then
    rm -rf "$FOCUS_VENV"
    echo "focus-validator: installing ${FOCUS_REQUIREMENTS[*]} into $FOCUS_VENV failed;" \
      "the FOCUS validator test will be skipped (and fails when CI=true)." >&2
  fi
}

build_focus_validator_env
if focus_validator_installed; then
  AIFACTORY_FOCUS_VALIDATOR_PYTHON="$PWD/$FOCUS_VENV/bin/python"
  export AIFACTORY_FOCUS_VALIDATOR_PYTHON
fi
