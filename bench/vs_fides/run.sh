#!/usr/bin/env bash
# Pledge against Fides on the same data, one command (see run.py for what it does).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ ! -x "$root/.venv/bin/pledge" ]; then
  python3 -m venv "$root/.venv"
  "$root/.venv/bin/pip" install -q -e "$root[dev]" || "$root/.venv/bin/pip" install -q -e "$root"
fi
exec "$root/.venv/bin/python" "$here/run.py" "$@"
