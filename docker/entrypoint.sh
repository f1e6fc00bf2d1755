#!/bin/sh
# The image's entrypoint, run by tini (PID 1).
#   docker run vlmeval eval -m tiny-vlm -d ShapesMCQ   -> vlmeval eval -m tiny-vlm -d ShapesMCQ
#   docker run vlmeval --help                          -> vlmeval --help
#   docker run vlmeval make test-gpu                   -> make test-gpu (anything else is exec'd)
# vlmeval then replaces itself with torchrun, so signals from `docker stop` reach the ranks.
#
# Who runs it. The image starts as root only to pick its user, and drops to that user (the
# way the postgres image does with gosu) before anything else runs: the owner (uid and gid)
# of the output directory (--output, else $VLMEVAL_OUTPUT: /outputs), so that the result files belong to
# whoever owns the mounted directory. A directory that belongs to root and is empty (what
# docker creates for a -v source that does not exist) is first given to uid:gid 1000:1000,
# the image's vlmeval user, and the run goes on as that user; a root-owned directory with
# files in it is root's, and the run stays root. Without a mount, /outputs is the image's
# own (1000:1000). The data directory ($LMUData) and the hub cache ($HF_HOME), when they
# are empty root-owned directories too, are given to the same user. `docker run -u UID:GID`
# (compose's `user:`) starts as that user, and then nothing here changes; `-u 0` is root.
set -e

# vlmeval's commands; tests/test_container.py checks this list against `vlmeval --help`.
VLMEVAL_COMMANDS="eval score compare report merge status prompts gpus list doctor fetch slurm"
# The image's own user, for a directory docker has just made (docker/Dockerfile).
IMAGE_UID=1000
IMAGE_GID=1000

# Empty and owned by root: docker made it for a bind mount whose source did not exist.
unclaimed() {
    [ -d "$1" ] && [ "$(stat -c %u "$1")" = 0 ] && [ -z "$(ls -A "$1" 2>/dev/null)" ]
}

# The user to drop to ("uid:gid"), or empty: stay who we are; stuck: the one we could not.
drop=""
stuck=""
# The image's default user is 0:1000: root, with the vlmeval group as the mark of a start
# without -u. An explicit `-u 0` (or `-u root`, `-u 0:0`) has gid 0: root, as asked.
if [ "$(id -u)" = 0 ] && [ "$(id -g)" = "$IMAGE_GID" ]; then
    # The output directory: --output when given (eval, score), else $VLMEVAL_OUTPUT.
    output=${VLMEVAL_OUTPUT:-/outputs}
    previous=""
    for arg in "$@"; do
        case "$previous:$arg" in
            --output:*) output=$arg ;;
            *:--output=*) output=${arg#--output=} ;;
        esac
        previous=$arg
    done
    uid=$IMAGE_UID
    gid=$IMAGE_GID
    if unclaimed "$output"; then
        if chown "$uid:$gid" "$output" 2>/dev/null; then
            echo "vlmeval: note: $output was an empty directory owned by root (docker makes" \
                "a missing -v source so): it now belongs to uid $uid, gid $gid (the image's" \
                "user), who writes the results" >&2
        fi
    elif [ -d "$output" ]; then
        uid=$(stat -c %u "$output")
        gid=$(stat -c %g "$output")
    fi
    for dir in "${LMUData:-}" "${HF_HOME:-}"; do
        if [ "$uid" != 0 ] && [ -n "$dir" ] && unclaimed "$dir"; then
            chown "$uid:$gid" "$dir" 2>/dev/null || true
        fi
    done
    # A root-owned directory with files: root, with the directory's group (not 1000).
    # setpriv (util-linux) sets the real, effective and saved uid and gid and clears the
    # supplementary groups; going from root to another uid drops every capability.
    # Without SETUID and SETGID (--cap-drop ALL) it cannot: vlmeval's commands then stop
    # (below), anything else runs as the capability-less root it was started as.
    if setpriv --reuid="$uid" --regid="$gid" --clear-groups true 2>/dev/null; then
        drop="$uid:$gid"
    else
        stuck="$uid:$gid"
    fi
fi

# exec the command, as the user picked above.
run() {
    if [ -n "$drop" ]; then
        exec setpriv --reuid="${drop%%:*}" --regid="${drop##*:}" --clear-groups -- "$@"
    fi
    exec "$@"
}

# exec vlmeval, as the user picked above; one line and exit 3 when that user cannot be taken.
run_vlmeval() {
    if [ -n "$stuck" ]; then
        echo "vlmeval: error: the container starts as root to take the owner of $output" \
            "(uid ${stuck%%:*}, gid ${stuck##*:}) but may not change its user (--cap-drop ALL" \
            "drops SETUID and SETGID): pass -u $stuck as well" >&2
        exit 3
    fi
    run vlmeval "$@"
}

if [ "$#" -eq 0 ]; then
    set -- --help
fi
case "$1" in
    -*) run_vlmeval "$@" ;;
esac
for command in $VLMEVAL_COMMANDS; do
    if [ "$1" = "$command" ]; then
        run_vlmeval "$@"
    fi
done
run "$@"
