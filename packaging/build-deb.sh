#!/usr/bin/env bash
# Builds the Debian package tracegap_<version>-<revision>_<arch>.deb from the CMake tree with
# CPack, into <build dir>/packaging/, and checks it with lintian (errors fail the build).
#
# Usage: packaging/build-deb.sh [--no-build] [--no-lintian]
#   --no-build    package the tree as it is (the test suite uses this: it has just built it)
#   --no-lintian  skip lintian
# Environment: BUILD_DIR (default build), as for scripts/build.sh.
# Prints the path of the .deb on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
do_build=1
do_lintian=1
for arg in "$@"; do
  case "$arg" in
    --no-build) do_build=0 ;;
    --no-lintian) do_lintian=0 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "build-deb: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

for tool in cpack dpkg-deb dpkg-shlibdeps dpkg-parsechangelog; do
  if ! command -v "$tool" >/dev/null; then
    echo "build-deb: $tool is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
done

if ((do_build)); then
  BUILD_DIR="$build_dir" scripts/build.sh
fi
if [[ ! -f "$build_dir/CPackConfig.cmake" ]]; then
  echo "build-deb: $build_dir/CPackConfig.cmake not found: build first (scripts/build.sh)" >&2
  exit 1
fi

out_dir="$build_dir/packaging"
mkdir -p "$out_dir"
# Only one package in the output directory: the one built now.
rm -f "$out_dir"/tracegap_*.deb
log="$out_dir/cpack.log"
if ! (cd "$build_dir" && cpack -G DEB -B "$PWD/packaging" --config CPackConfig.cmake) >"$log" 2>&1; then
  cat "$log" >&2
  echo "build-deb: cpack failed" >&2
  exit 1
fi
rm -rf "$out_dir/_CPack_Packages"
shopt -s nullglob
debs=("$out_dir"/tracegap_*.deb)
if ((${#debs[@]} != 1)); then
  cat "$log" >&2
  echo "build-deb: expected one tracegap_*.deb in $out_dir, found ${#debs[@]}" >&2
  exit 1
fi
deb=${debs[0]}
echo "build-deb: built $deb"
dpkg-deb --field "$deb" Package Version Architecture Depends
# changelog.Debian.gz must describe the version being shipped.
deb_version=$(dpkg-deb --field "$deb" Version)
changelog_version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
if [[ "$deb_version" != "$changelog_version" ]]; then
  echo "build-deb: the package is $deb_version but packaging/debian/changelog starts with" \
       "$changelog_version: add a changelog entry" >&2
  exit 1
fi

if ((do_lintian)); then
  if ! command -v lintian >/dev/null; then
    echo "build-deb: lintian is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
  # Exit status 1 only for errors (the default --fail-on). Warnings are explained in
  # docs/deploy.md.
  if lintian --fail-on error --no-tag-display-limit --info "$deb" >"$out_dir/lintian.log" 2>&1; then
    status=0
  else
    status=$?
  fi
  # lintian's own notes start with N: and are long; show the tags only.
  grep -E '^[EWIP]: ' "$out_dir/lintian.log" || true
  if ((status != 0)); then
    echo "build-deb: lintian reported errors (exit $status); full output in $out_dir/lintian.log" >&2
    exit 1
  fi
  echo "build-deb: lintian: no errors ($(grep -c '^W: ' "$out_dir/lintian.log" || true) warnings)"
fi
echo "$deb"
