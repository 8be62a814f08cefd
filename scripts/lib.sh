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
    # What was there before, so that afterwards only what this install added is undone.
    local services_before clusters_before
    services_before=$(_services_on $(_services_of "${missing[@]}"))
    clusters_before=$(_pg_clusters)
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
    leave_as_found "$services_before" "$clusters_before" "${missing[@]}"
    return 0
}

# _services_of PACKAGE... : the systemd units of the daemons these packages bring.
_services_of() {
    local package
    for package in "$@"; do
        case "$package" in
            openssh-server) echo ssh ;;
            nslcd|slapd|rsync|prometheus) echo "$package" ;;
            postgresql|postgresql-[0-9]*) echo postgresql ;;
        esac
    done
}

# _services_on UNIT... : those of the units that are enabled or running (none without
# systemctl).
_services_on() {
    command -v systemctl >/dev/null || return 0
    local unit
    for unit in "$@"; do
        if systemctl is-enabled --quiet "$unit" 2>/dev/null \
            || systemctl is-active --quiet "$unit" 2>/dev/null; then
            echo "$unit"
        fi
    done
}

# _pg_clusters: "VERSION NAME" of each PostgreSQL cluster, one a line: those
# postgresql-common's pg_lsclusters lists, and those whose configuration is in
# $PG_CONFIG_ROOT (a cluster a removed server package left behind, which pg_lsclusters
# lists again once the server is back).
PG_CONFIG_ROOT=/etc/postgresql
_pg_clusters() {
    local conf rest
    {
        if command -v pg_lsclusters >/dev/null; then
            pg_lsclusters --no-header 2>/dev/null | awk '{ print $1, $2 }' || true
        fi
        for conf in "$PG_CONFIG_ROOT"/*/*/postgresql.conf; do
            [ -e "$conf" ] || continue
            rest=${conf#"$PG_CONFIG_ROOT"/}
            rest=${rest%/postgresql.conf}
            echo "${rest%%/*} ${rest#*/}"
        done
    } | sort -u
}

# leave_as_found SERVICES_BEFORE CLUSTERS_BEFORE PACKAGE... : after installing PACKAGEs,
# leave the machine as it was: each daemon unit they brought that was neither enabled nor
# running before (SERVICES_BEFORE, from _services_on) is disabled and stopped, and each
# PostgreSQL cluster named main that did not exist before (CLUSTERS_BEFORE, from
# _pg_clusters) is stopped and dropped: Debian creates it empty when the server package
# is installed, and the tests start their own servers. Without systemd (a container) the
# systemctl calls fail and are ignored.
leave_as_found() {
    local services_before=$1 clusters_before=$2 unit version name
    shift 2
    while read -r version name; do
        [ "$name" = main ] || continue
        grep -qxF "$version $name" <<<"$clusters_before" && continue
        log "dropping the empty PostgreSQL cluster $version/main this install created"
        pg_dropcluster --stop "$version" main || log "pg_dropcluster $version main failed"
    done < <(_pg_clusters)
    command -v systemctl >/dev/null || return 0
    for unit in $(_services_of "$@"); do
        grep -qxF "$unit" <<<"$services_before" && continue
        systemctl disable --quiet "$unit" 2>/dev/null || true
        systemctl stop "$unit" 2>/dev/null || true
    done
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

# The second borg of the tests: Debian ships one series per release (1.2 in Debian 12, 1.4
# in Debian 13); the tests serve repositories with both, so the other series is
# pip-installed from source into its own virtualenv. Pinned, so the cache key is known
# before building: the newest release of each series.
OTHER_BORG_12=1.2.9
OTHER_BORG_14=1.4.5
OTHER_BORG_CACHE=/var/cache/borghive-test

# other_borg_version DEBIAN_VERSION: the borg version to build next to Debian's borg of
# that version (1.4 next to 1.2, 1.2 next to 1.4); fails for any other series.
other_borg_version() {
    case "$1" in
        1.2.*) echo "$OTHER_BORG_14" ;;
        1.4.*) echo "$OTHER_BORG_12" ;;
        *) return 1 ;;
    esac
}

# ensure_other_borg: the virtualenv $OTHER_BORG_CACHE/borg-VERSION-pyX.Y (Debian's python3,
# whose headers python3-dev brings) with the borg series Debian does not ship here; built
# once, reused while its stamp says it is complete. tests/harness/borg.py finds it there by
# its stamp.
ensure_other_borg() {
    local debian wanted python dir
    ensure_debs borgbackup python3 python3-venv
    debian=$(dpkg-query -W -f='${Version}' borgbackup)
    wanted=$(other_borg_version "$debian") || {
        log "Debian's borg is $debian: no second series is known for it"
        return 1
    }
    python=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    dir="$OTHER_BORG_CACHE/borg-$wanted-py$python"
    # The stamp is written last: a build that was interrupted is started again.
    [ "$(cat "$dir/.borghive-stamp" 2>/dev/null)" = "borg $wanted" ] && return 0
    ensure_debs build-essential pkg-config python3-dev liblz4-dev libzstd-dev libxxhash-dev \
        libacl1-dev libssl-dev
    log "building borg $wanted for the tests in $dir (a few minutes, once)"
    # A virtualenv is not relocatable (its scripts name their interpreter by path), so it
    # is built where it stays.
    rm -rf "$dir"
    mkdir -p "$OTHER_BORG_CACHE"
    /usr/bin/python3 -m venv "$dir"
    "$dir/bin/python" -m pip install -q "borgbackup==$wanted"
    [ "$("$dir/bin/borg" --version)" = "borg $wanted" ] || {
        log "$dir/bin/borg does not say it is borg $wanted"
        return 1
    }
    # The repository users of the e2e site run it.
    chmod -R a+rX "$OTHER_BORG_CACHE"
    echo "borg $wanted" > "$dir/.borghive-stamp"
}
