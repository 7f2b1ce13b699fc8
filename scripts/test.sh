#!/usr/bin/env bash
# One command on a fresh machine: build the environment, check style and types, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
source scripts/focus_validator.sh  # its own Python 3.12+ environment; exports AIFACTORY_FOCUS_VALIDATOR_PYTHON
echo "== ruff";          .venv/bin/ruff check .
echo "== ruff format";   .venv/bin/ruff format --check .
echo "== mypy";          .venv/bin/mypy shared services pricing
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest";        exec .venv/bin/pytest "$@"
