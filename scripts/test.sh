#!/usr/bin/env bash
# The project's test command: installs everything, then lint, format check and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --test
python3 -m ruff check .
python3 -m ruff format --check .
python3 -m pytest "$@"
