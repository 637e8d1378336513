#!/usr/bin/env bash
# The project's test command (README and CI run exactly this): installs the package with its
# dev extras and the Debian fonts/word list the data tests render with, lints, runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_train.sh
python -m pip install -q -e ".[dev]"
python -m ruff check .
python -m pytest -q "$@"
