# Sourced by the other scripts: creates .venv and installs requirements-dev.txt (which includes
# requirements.txt) when either file changed. A production install needs only requirements.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-}"
if [ -z "$PYTHON_BIN" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON_BIN="$candidate"; break; fi
  done
fi
if [ -z "$PYTHON_BIN" ]; then
  echo "error: no python3 found; install Python 3.11 (apt-get install python3 python3-venv)" >&2
  exit 1
fi
if ! "$PYTHON_BIN" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: $PYTHON_BIN is older than Python 3.11" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv in .venv with $PYTHON_BIN"
  if ! "$PYTHON_BIN" -m venv "$VENV"; then
    echo "error: could not create a virtualenv; on Debian: apt-get install python3-venv" >&2
    exit 1
  fi
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "==> installing requirements into .venv"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
