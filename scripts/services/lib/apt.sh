# shellcheck shell=bash
# Sourced by the scripts in scripts/services (not run on its own): installs Debian
# packages, waiting (bounded) for another apt/dpkg process to release its locks
# instead of failing at once with "Could not get lock /var/lib/dpkg/lock-frontend".
#
# The caller defines `log`, `die` and `as_root`.
# Environment: APT_LOCK_TIMEOUT seconds to wait for the locks (default 300).

apt_lock_timeout="${APT_LOCK_TIMEOUT:-300}"
apt_lock_files=(/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock)

# Succeeds when some process holds one of the apt/dpkg locks. apt and dpkg take
# fcntl (POSIX) locks, listed in /proc/locks by inode; `fuser` is used when present.
apt_locked() {
    local f inode
    for f in "${apt_lock_files[@]}"; do
        [ -e "$f" ] || continue
        if command -v fuser >/dev/null 2>&1; then
            as_root fuser "$f" >/dev/null 2>&1 && return 0
        fi
        inode="$(stat -c %i "$f" 2>/dev/null)" || continue
        grep -Eq "[0-9a-f]+:[0-9a-f]+:${inode} " /proc/locks 2>/dev/null && return 0
    done
    return 1
}

# Waits until no process holds an apt/dpkg lock, at most $apt_lock_timeout seconds.
apt_wait_for_locks() {
    local deadline=$(( $(date +%s) + apt_lock_timeout )) said=""
    while apt_locked; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            die "another apt/dpkg process still holds its lock after ${apt_lock_timeout} s (see: ps -ef | grep -E 'apt|dpkg'); retry later or raise APT_LOCK_TIMEOUT"
        fi
        if [ -z "$said" ]; then
            log "another apt/dpkg process holds its lock; waiting up to ${apt_lock_timeout} s"
            said=1
        fi
        sleep 2
    done
}

# `apt_install PACKAGE...`: apt-get update, then install, each waiting for the locks.
# apt-get's own DPkg::Lock::Timeout covers a lock taken between the check and the call.
apt_install() {
    apt_wait_for_locks
    as_root apt-get -o DPkg::Lock::Timeout="$apt_lock_timeout" update \
        || die "apt-get update failed"
    apt_wait_for_locks
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout="$apt_lock_timeout" install -y "$@" \
        || die "apt-get install $* failed"
}
