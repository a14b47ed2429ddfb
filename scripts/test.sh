#!/usr/bin/env bash
# Lint and run the whole test suite. Arguments go to pytest, e.g.
#   ./scripts/test.sh -k seed -x
# DATABASE_URL / REDIS_URL from the environment are honoured (CI sets both);
# without them the suite runs on in-memory SQLite and the on-disk broker.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT_DIR"

ensure_system_packages "${TEST_PACKAGES[@]}"
ensure_venv test
export PATH="$VENV_DIR/bin:$PATH"

compile_messages

log "ruff check"
ruff check .

# The layer contracts in pyproject.toml ([tool.importlinter]).
log "import-linter"
lint-imports --no-cache

log "pytest"
status=0
pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
    die "pytest collected no tests: that is a failure, not a pass"
fi
exit "$status"
