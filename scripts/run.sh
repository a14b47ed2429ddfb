#!/usr/bin/env bash
# Run OrderHub for development: web on http://127.0.0.1:8000, a Celery worker on
# every queue, and beat, all under honcho (see Procfile). Safe to run again:
# only what changed is installed or migrated.
#
# With no DATABASE_URL / REDIS_URL it uses SQLite and an on-disk Celery broker
# under var/ (or ORDERHUB_VAR_DIR). Pass SKIP_SEED=1 to skip the demo data.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT_DIR"

# Development run: settings default to production-safe values, so opt in here.
export DEBUG="${DEBUG:-1}"
export WEB_PORT="${WEB_PORT:-8000}"

ensure_system_packages "${RUNTIME_PACKAGES[@]}"
ensure_venv
export PATH="$VENV_DIR/bin:$PATH"

log "migrating the database"
manage migrate --noinput --verbosity 0
compile_messages
case "${DEBUG,,}" in
    1 | true | yes | on) ;;  # WhiteNoise serves static files from the apps while DEBUG is on.
    *) log "collecting static files"; manage collectstatic --noinput --verbosity 0 ;;
esac
if [ "${SKIP_SEED:-0}" != "1" ]; then
    log "loading demo data"
    manage seed_demo
fi

log "starting web (http://127.0.0.1:$WEB_PORT), worker and beat; Ctrl-C stops all"
exec honcho --procfile Procfile --app-root "$ROOT_DIR" start
