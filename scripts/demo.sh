#!/usr/bin/env bash
# One command on a fresh machine: build the environment, then run `aifactory demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
exec .venv/bin/aifactory demo "$@"
