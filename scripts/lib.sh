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
    # Installing must not configure the host: no slapd database, libnss-ldapd leaves
    # /etc/nsswitch.conf alone, libpam-ldapd's pam-auth-update does not add pam_ldap to
    # /etc/pam.d/common-* (its profile is marked as seen), and no daemon starts (policy-rc.d).
    grep -qx ldap /var/lib/pam/seen 2>/dev/null || { mkdir -p /var/lib/pam; echo ldap >> /var/lib/pam/seen; }
    debconf-set-selections <<'PRESEED'
slapd slapd/no_configuration boolean true
libnss-ldapd libnss-ldapd/nsswitch multiselect
libnss-ldapd libnss-ldapd/clean_nsswitch boolean false
PRESEED
    local own_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "${missing[@]}" >/dev/null || {
        [ "$own_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
        return 1
    }
    [ "$own_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
    # Daemons this run installed stay off at boot: the tests start their own.
    for package in "${missing[@]}"; do
        case "$package" in
            openssh-server) _disable_service ssh ;;
            nslcd|slapd) _disable_service "$package" ;;
        esac
    done
    return 0
}

_disable_service() {
    command -v systemctl >/dev/null && systemctl disable --quiet "$1" 2>/dev/null
    return 0
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
