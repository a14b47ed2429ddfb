# shellcheck shell=bash
# Shared setup for run.sh, test.sh and .ci/run. Source it, don't run it:
#
#   . "$(dirname "$0")/setup.sh"
#
# Everything here is idempotent and cheap on a second run: system packages are
# checked with dpkg before apt is touched, and pip only runs when pyproject.toml
# (or the requested extra) changed since the last install.

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${ORDERHUB_VENV:-$ROOT_DIR/.venv}"

# Debian package names. WeasyPrint needs pango; Chinese PDFs need a CJK font;
# compilemessages needs msgfmt.
RUNTIME_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b fonts-noto-cjk gettext)
# Tests also render PDFs to text/images and drive a headless browser.
TEST_PACKAGES=("${RUNTIME_PACKAGES[@]}" chromium poppler-utils)
# The services CI runs the suite against.
SERVICE_PACKAGES=(postgresql redis-server)

if [ -t 2 ]; then
    _BLUE=$'\033[1;34m' _YELLOW=$'\033[1;33m' _RED=$'\033[1;31m' _RESET=$'\033[0m'
else
    _BLUE="" _YELLOW="" _RED="" _RESET=""
fi
log() { printf '%s==>%s %s\n' "$_BLUE" "$_RESET" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_YELLOW" "$_RESET" "$*" >&2; }
die() { printf '%serror:%s %s\n' "$_RED" "$_RESET" "$*" >&2; exit 1; }

_APT_UPDATED=0

# missing_packages PKG...: print the Debian packages that are not installed.
missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
        if [ "$status" != "install ok installed" ]; then
            printf '%s\n' "$pkg"
        fi
    done
}

# ensure_system_packages PKG...: install missing Debian packages when we are root;
# otherwise say exactly what to install and carry on (the parts that need them
# fail later with their own message, everything else still works).
ensure_system_packages() {
    if ! command -v dpkg-query >/dev/null 2>&1; then
        warn "not a Debian/Ubuntu system: make sure these (or your distribution's equivalents) are installed: $*"
        return 0
    fi
    local missing
    mapfile -t missing < <(missing_packages "$@")
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        warn "missing system packages: ${missing[*]}"
        warn "install them with:  sudo apt-get install -y ${missing[*]}"
        return 0
    fi
    log "installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [ "$_APT_UPDATED" -eq 0 ]; then
        apt-get update -qq
        _APT_UPDATED=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# find_python: print a Python 3.11+ interpreter, or fail naming what to install.
find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    die "OrderHub needs Python 3.11 or newer with the venv module (Debian: apt-get install python3 python3-venv)"
}

# ensure_venv [EXTRA]: create .venv if missing and install the project into it
# (with the optional extra, e.g. "test"). Skips pip when nothing changed.
ensure_venv() {
    local extra="${1:-}" spec="." stamp want
    [ -n "$extra" ] && spec=".[$extra]"
    if [ ! -x "$VENV_DIR/bin/python" ]; then
        local python
        python="$(find_python)"
        log "creating virtualenv $VENV_DIR with $python"
        "$python" -m venv "$VENV_DIR" || die "could not create $VENV_DIR (Debian: apt-get install python3-venv)"
    fi
    stamp="$VENV_DIR/.orderhub-installed"
    want="$(sha256sum "$ROOT_DIR/pyproject.toml" | cut -d' ' -f1)"
    if [ -f "$stamp" ]; then
        local have_hash have_extra
        read -r have_hash have_extra <"$stamp" || true
        # A test install also serves a plain run, so don't reinstall for that.
        if [ "$have_hash" = "$want" ] && { [ "$have_extra" = "$extra" ] || [ -z "$extra" ]; }; then
            return 0
        fi
    fi
    log "installing Python packages ($spec)"
    # Some pip configurations warn about every missing local index folder: noise.
    (cd "$ROOT_DIR" && "$VENV_DIR/bin/python" -m pip install --quiet -e "$spec" 2>&1) \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    printf '%s %s\n' "$want" "$extra" >"$stamp"
}

# manage ARGS...: run manage.py with the virtualenv's Python.
manage() {
    (cd "$ROOT_DIR" && "$VENV_DIR/bin/python" manage.py "$@")
}

# compile_messages: build .mo files; without msgfmt fall back to the committed ones.
compile_messages() {
    if ! compgen -G "$ROOT_DIR/locale/*/LC_MESSAGES/*.po" >/dev/null; then
        return 0
    fi
    if command -v msgfmt >/dev/null 2>&1; then
        # Settings refuse to load without a secret unless DEBUG; this command needs none.
        SECRET_KEY="${SECRET_KEY:-compilemessages-only}" \
            manage compilemessages --ignore=.venv --ignore=var --verbosity 0
    else
        warn "msgfmt not found (Debian: apt-get install gettext): using the committed .mo files"
    fi
}
