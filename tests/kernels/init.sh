#!/bin/busybox sh
# shellcheck shell=dash
# /init of the kernels tier's initramfs (tests/kernels/initramfs.py puts it there, with a static
# busybox and the 9p/virtio modules listed in /modules.list, in load order).
#
# Mounts the host's root file system (9p tag "hostroot", read-only) on /newroot, with tmpfs on the
# directories that must be writable and the guest's own proc, sysfs, devtmpfs and bpffs; mounts
# the results share (9p tag "results", writable) on /newroot/run/tg-results; brings lo up; runs
# /run/tg-results/guest.sh chrooted into /newroot; records its exit code in
# /run/tg-results/guest.rc; powers off. Every step is echoed to the console (ttyS0) as "tg-init:".
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

log() {
  read -r up _ < /proc/uptime
  echo "tg-init: [$up] $*"
}
die() {
  log "FAIL: $*"
  sync
  echo o > /proc/sysrq-trigger
  poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
log "kernel $(uname -r), loading $(wc -l < /modules.list) modules"
while read -r m; do
  insmod "/lib/modules/$m" || die "insmod $m"
done < /modules.list

# The virtio device may show up a moment after its driver loads.
mounted=0
for _ in $(seq 1 50); do
  if mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /newroot 2>/dev/null; then
    mounted=1
    break
  fi
  sleep 0.1
done
[ "$mounted" = 1 ] || die "cannot mount the 9p share hostroot on /newroot (is it exported with -virtfs ...,mount_tag=hostroot?)"
log "host root mounted read-only"

R=/newroot
# Not /root or /home: a checkout there must stay visible (guest.sh sets HOME=/tmp).
for d in tmp run var/tmp var/log var/cache var/lib/nginx; do
  [ -d "$R/$d" ] || continue
  mount -t tmpfs -o mode=0755 tmpfs "$R/$d" || die "tmpfs on /$d"
done
chmod 1777 "$R/tmp" "$R/var/tmp"
mkdir -p "$R/var/log/nginx" "$R/run/tg-results"
mount -t proc proc "$R/proc" || die "proc"
mount -t sysfs sysfs "$R/sys" || die "sysfs"
mount -t devtmpfs devtmpfs "$R/dev" || die "devtmpfs"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t bpf bpf "$R/sys/fs/bpf" || die "bpffs on /sys/fs/bpf"
mount -t 9p -o trans=virtio,version=9p2000.L,rw,msize=512000 results "$R/run/tg-results" ||
  die "cannot mount the 9p share results"
ip link set lo up || die "ip link set lo up"
[ -f "$R/run/tg-results/guest.sh" ] || die "no guest.sh in the results share"

log "running guest.sh"
chroot "$R" /bin/sh /run/tg-results/guest.sh
rc=$?
echo "$rc" > "$R/run/tg-results/guest.rc"
log "guest.sh exited $rc"
sync
umount "$R/run/tg-results" 2>/dev/null
log "powering off"
echo o > /proc/sysrq-trigger
poweroff -f
