#!/usr/bin/env bash
# Fetches a Debian kernel image package (never installs it) and unpacks it into a cache directory.
#
# Usage: fetch_kernel.sh CACHE_DIR [META_PACKAGE]
#   META_PACKAGE defaults to linux-image-amd64 (Debian 12: the generic 6.1 flavour; not the cloud
#   flavour, which has no 9p). The versioned package it depends on (linux-image-<release>) is
#   downloaded with `apt-get download` into CACHE_DIR/debs and unpacked with `dpkg-deb -x` into
#   CACHE_DIR/<release>/ (boot/vmlinuz-<release>, lib/modules/<release>/).
# The last line on stdout is the absolute path of CACHE_DIR/<release>; progress goes to stderr.
# Idempotent: a package already downloaded and unpacked is reused without asking apt anything
# but `apt-cache` (and, when apt knows nothing, the last package resolved is reused offline).
set -euo pipefail

cache=${1:?usage: fetch_kernel.sh CACHE_DIR [META_PACKAGE]}
meta=${2:-linux-image-amd64}
mkdir -p "$cache/debs"
cache=$(cd "$cache" && pwd)

say() { echo "fetch_kernel: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

updated=0
apt_update_once() {
  ((updated)) && return 1
  updated=1
  say "apt knows nothing about it: running apt-get update once"
  apt-get update -q >&2 || say "apt-get update failed"
  return 0
}

# The versioned image package the meta package depends on, e.g. linux-image-6.1.0-57-amd64.
resolve() {
  apt-cache depends "$meta" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

last="$cache/$meta.resolved"
pkg=$(resolve || true)
if [[ -z $pkg ]] && apt_update_once; then pkg=$(resolve || true); fi
if [[ -z $pkg ]]; then
  [[ -s $last ]] || die "cannot resolve the kernel package that $meta depends on (apt-cache depends $meta gave nothing; is a Debian apt source configured and reachable?)"
  pkg=$(cat "$last")
  say "WARNING: apt cannot resolve $meta now; reusing $pkg from an earlier run"
fi
echo "$pkg" > "$last"
release=${pkg#linux-image-}
say "$meta -> $pkg (kernel release $release)"

# The candidate version of a package, or nothing when apt does not know it.
candidate() { apt-cache show --no-all-versions "$1" 2>/dev/null | awk '$1 == "Version:" { print $2; exit }'; }

# The .deb of package $1 in the cache (downloading it if its candidate version is not there yet);
# prints its path, or nothing (and returns 1) when it cannot be had.
deb_of() {
  local p=$1 ver file
  ver=$(candidate "$p")
  if [[ -z $ver ]] && apt_update_once; then ver=$(candidate "$p"); fi
  if [[ -n $ver ]]; then
    file="$cache/debs/${p}_${ver//:/%3a}_amd64.deb"
    if [[ ! -s $file ]]; then
      say "downloading $p $ver"
      if ! (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$p=$ver" >&2); then
        if apt_update_once; then
          ver=$(candidate "$p")
          file="$cache/debs/${p}_${ver//:/%3a}_amd64.deb"
          (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$p=$ver" >&2) || true
        fi
      fi
    fi
    [[ -s $file ]] && { echo "$file"; return 0; }
  fi
  # Offline: any copy of this package downloaded earlier.
  file=$(ls -1 "$cache/debs/${p}_"*_amd64.deb 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n $file ]] || return 1
  say "WARNING: using the cached $(basename "$file") (apt could not provide $p${ver:+ $ver})"
  echo "$file"
}

# Whether a .deb holds both the kernel image and its modules (9p among them).
complete_image() {
  local listing
  listing=$(dpkg-deb -c "$1")
  grep -q "\./boot/vmlinuz-$release\$" <<<"$listing" &&
    grep -q "\./lib/modules/$release/kernel/fs/9p/9p\.ko" <<<"$listing"
}

# Debian 12's signed image package carries vmlinuz and the modules; where a signed package holds
# only the image, the -unsigned one has both.
dest="$cache/$release"
marker="$dest/.unpacked-from"
deb=""
for p in "$pkg" "$pkg-unsigned"; do
  d=$(deb_of "$p" || true)
  if [[ -z $d ]]; then
    say "$p: not available"
    continue
  fi
  # Unpacked from this very file before (and checked then): no need to list it again.
  if [[ -f $marker && $(cat "$marker") == "$(basename "$d")" ]] || complete_image "$d"; then
    deb=$d
    break
  fi
  say "$(basename "$d") lacks boot/vmlinuz-$release or the 9p module; trying the next package"
done
[[ -n $deb ]] || die "no package among $pkg, $pkg-unsigned holds vmlinuz-$release with its modules (see above)"

if [[ -f $marker && $(cat "$marker") == "$(basename "$deb")" && -f $dest/boot/vmlinuz-$release ]]; then
  say "already unpacked: $dest"
else
  say "unpacking $(basename "$deb") into $dest"
  rm -rf "$dest" "$dest.tmp"
  dpkg-deb -x "$deb" "$dest.tmp" || die "dpkg-deb -x $deb failed"
  basename "$deb" > "$dest.tmp/.unpacked-from"
  mv "$dest.tmp" "$dest"
fi
[[ -f $dest/boot/vmlinuz-$release && -d $dest/lib/modules/$release/kernel ]] ||
  die "$dest lacks boot/vmlinuz-$release or lib/modules/$release"
echo "$dest"
