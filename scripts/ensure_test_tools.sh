#!/usr/bin/env bash
# Installs what the test suite needs beyond Python packages (C++ compilers for
# the msl-cpu backend: clang builds the faster kernels, g++ carries the AddressSanitizer
# runtime the sanitizer test preloads). Idempotent; safe to run on every `make test`.
set -euo pipefail
need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
if ! command -v clang++ >/dev/null 2>&1 && ! compgen -c clang++- >/dev/null 2>&1; then
  need+=(clang)
fi
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
