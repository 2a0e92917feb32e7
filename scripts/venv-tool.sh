#!/usr/bin/env bash
# Runs a dev tool (ruff, mypy) from the project's environment, so pre-commit hooks need no network:
# the active virtualenv, else the checkout's .venv (made by `make install`), else the PATH.
set -euo pipefail
tool=$1; shift
for dir in "${VIRTUAL_ENV:-}/bin" "$(git rev-parse --show-toplevel)/.venv/bin"; do
  if [ -x "$dir/$tool" ]; then exec "$dir/$tool" "$@"; fi
done
if command -v "$tool" >/dev/null 2>&1; then exec "$tool" "$@"; fi
echo "$tool not found: run \`make install\` (it installs the dev extra into .venv) or activate a venv that has it" >&2
exit 127
