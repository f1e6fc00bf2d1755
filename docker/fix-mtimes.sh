#!/bin/sh
# fix-mtimes.sh START EPOCH: the end of a Dockerfile RUN step that writes files, so that two
# builds give the same layer. START is the step's start (`date +%s`). Every file changed
# since a second before it (file times come from the kernel's coarse clock, which can lag
# `date` by a few milliseconds) gets the mtime EPOCH (seconds since 1970); the logs and
# caches that hold dates or inode numbers (apt's and dpkg's logs, ldconfig's aux-cache) are
# emptied rather than deleted: deleting a file of an earlier layer leaves a whiteout, whose
# time is the build's. Mounts (the build's own /proc, /sys, /dev, /run, /mnt, /media and
# the files docker binds into /etc) are not touched.
set -eu
since=$(($1 - 1))
epoch=$2
for dir in /var/log /var/cache/ldconfig; do
    if [ -d "$dir" ]; then
        find "$dir" -xdev -type f -newermt "@$since" -exec truncate -s 0 {} +
    fi
done
find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /mnt \
    -o -path /media -o -path /etc/hosts -o -path /etc/hostname -o -path /etc/resolv.conf \) \
    -prune -o -newermt "@$since" -exec touch --no-dereference --date="@$epoch" {} +
