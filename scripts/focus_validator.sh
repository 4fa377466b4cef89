#!/usr/bin/env bash
# Run the FinOps Foundation's focus-validator (PyPI `focus-validator` 2.x) on a FOCUS file.
#
#   scripts/focus_validator.sh FILE [extra focus-validator args...]
#   scripts/focus_validator.sh --setup          # only create the venv
#
# The validator needs Python >= 3.12 and conflicts with aifinops' pins, so it gets its own
# venv, .venv-validator/ at the repo root, created on first use (pyarrow<16: the validator
# resolves numpy 1.26, with which newer pyarrow wheels fail to import). It reads its
# currency table relative to the working directory, so it runs from its site-packages
# folder, and with --block-download (no network). Default: --validate-version 1.2.
# Exit status: the validator's own (non-zero when a rule fails).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FOCUS_VALIDATOR_VENV:-$ROOT/.venv-validator}"

find_python() {
    if [[ -n "${FOCUS_VALIDATOR_PYTHON:-}" ]]; then echo "$FOCUS_VALIDATOR_PYTHON"; return; fi
    for c in python3.13 python3.12 /root/.pyenv/versions/3.12*/bin/python /root/.pyenv/versions/3.13*/bin/python; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$c"; return
        fi
    done
    return 1
}

if [[ ! -x "$VENV/bin/focus-validator" ]]; then
    PY="$(find_python)" || { echo "focus_validator.sh: Python >= 3.12 not found (set FOCUS_VALIDATOR_PYTHON)" >&2; exit 3; }
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check focus-validator 'pyarrow<16' >&2
fi
[[ "${1:-}" == "--setup" ]] && exit 0
[[ $# -ge 1 ]] || { echo "usage: $0 FILE [focus-validator args...] | --setup" >&2; exit 2; }

FILE="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; shift
SITE="$("$VENV/bin/python" -c 'import focus_validator, os; print(os.path.dirname(os.path.dirname(focus_validator.__file__)))')"
cd "$SITE"
exec "$VENV/bin/focus-validator" --data-file "$FILE" --validate-version "${FOCUS_VERSION:-1.2}" --block-download "$@"
