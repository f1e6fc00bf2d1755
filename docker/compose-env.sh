#!/bin/sh
# Write compose's settings file with the uid and gid of the user who runs compose:
#
#   docker/compose-env.sh [ENV_FILE]      (default: .env beside compose.yaml)
#
# ENV_FILE starts as a copy of .env.example when it does not exist; an existing one keeps
# every other setting. Its UID and GID lines become the caller's: under sudo the user who
# called sudo (SUDO_UID, SUDO_GID), so that `sudo docker/compose-env.sh` does not make the
# results root's; otherwise `id -u` and `id -g`.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
env_file=${1:-$root/.env}

uid=$(id -u)
gid=$(id -g)
if [ "$uid" -eq 0 ] && [ -n "${SUDO_UID:-}" ]; then
    uid=$SUDO_UID
    gid=${SUDO_GID:-$SUDO_UID}
fi

if [ ! -e "$env_file" ]; then
    cp "$root/.env.example" "$env_file"
fi
# Each UID and GID line set in place (with its comment above it), added when missing.
sed -e "s/^UID=.*/UID=$uid/" -e "s/^GID=.*/GID=$gid/" "$env_file" >"$env_file.tmp"
grep -q '^UID=' "$env_file.tmp" || echo "UID=$uid" >>"$env_file.tmp"
grep -q '^GID=' "$env_file.tmp" || echo "GID=$gid" >>"$env_file.tmp"
mv "$env_file.tmp" "$env_file"
echo "$env_file: UID=$uid GID=$gid"
