#!/usr/bin/env bash
# Installs what the test suite needs beyond Python packages (a C++ compiler for
# the msl-cpu backend). Idempotent; safe to run on every `make test`.
set -euo pipefail
need=()
command -v c++ >/dev/null 2>&1 || need+=(g++)
[ -x /usr/bin/chromium ] || need+=(chromium)   # the Physics Lab browser test drives Debian's chromium
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]} and cannot install them (not root / no apt-get); the tests that need them will say so" >&2
  fi
fi
