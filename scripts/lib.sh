# Shared set-up for scripts/demo and scripts/test: Debian packages and the virtualenv.
# Sourced, not run. Installs only what is missing; safe to run again.

set -euo pipefail
BORGHIVE_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$BORGHIVE_TOP/.venv"
_apt_updated=0

log() { printf '>>> %s\n' "$*" >&2; }

# ensure_debs PACKAGE... : apt-get install the packages that are not installed yet.
ensure_debs() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing Debian packages: ${missing[*]} (run as root, or install them)"
        return 1
    fi
    if [ "$_apt_updated" -eq 0 ]; then
        log "apt-get update"
        apt-get update -qq
        _apt_updated=1
    fi
    log "apt-get install ${missing[*]}"
    # slapd: no system database is configured; nothing here changes the host's NSS/PAM.
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# ensure_python: a python3 with venv support (Debian's python3 + python3-venv if needed).
ensure_python() {
    if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        ensure_debs python3 python3-venv
    fi
}

# ensure_venv EXTRAS : .venv with borghive installed editable with these extras; reinstalled
# when pyproject.toml changes.
ensure_venv() {
    local extras=$1 stamp
    ensure_python
    stamp="$(sha256sum "$BORGHIVE_TOP/pyproject.toml" | cut -c1-16)-$extras"
    if [ -x "$VENV/bin/borghive" ] && [ "$(cat "$VENV/.borghive-stamp" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    log "creating virtualenv $VENV with borghive[$extras]"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e "$BORGHIVE_TOP[$extras]"
    echo "$stamp" > "$VENV/.borghive-stamp"
}

# postgres_installed: PostgreSQL server binaries are present (any Debian version).
postgres_installed() {
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}
