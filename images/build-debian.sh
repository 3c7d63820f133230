#!/usr/bin/env bash
# Builds a real Debian image archive (OCI layout, one uncompressed layer) with
# debootstrap: no registry, no container engine.
#
#   images/build-debian.sh OUT.tar --name NAME --packages PKG[,PKG...] [--suite bookworm] [--mirror URL]
#
# The rootfs is `debootstrap --variant=minbase --include=PACKAGES SUITE`, its apt
# lists and caches emptied, /proc, /sys and /dev left empty. Slow (minutes): callers
# cache the archive (tests/support/image.rs keys it by the package list).
# Needs: root, debootstrap, GNU tar, python3, dpkg; packs with images/oci-pack.py.
set -euo pipefail

usage() { echo "usage: $0 OUT.tar --name NAME --packages P1,P2 [--suite S] [--mirror URL]" >&2; exit 2; }

out="" name="" packages="" suite="bookworm" mirror=""
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || usage; name="$2"; shift 2 ;;
    --packages) [ $# -ge 2 ] || usage; packages="$2"; shift 2 ;;
    --suite) [ $# -ge 2 ] || usage; suite="$2"; shift 2 ;;
    --mirror) [ $# -ge 2 ] || usage; mirror="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) [ -z "$out" ] || usage; out="$1"; shift ;;
  esac
done
[ -n "$out" ] && [ -n "$name" ] || usage
command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

if [ -z "$mirror" ]; then
  # The mirror this machine's own apt sources name (deb822 or one-line format).
  mirror="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
            | grep -v security | grep -oE 'https?://[^ ]+' | grep -i debian | head -1 || true)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi

arch=""
case "$(dpkg --print-architecture)" in
  amd64) arch=amd64 ;; arm64) arch=arm64 ;; i386) arch=386 ;;
  *) arch="$(dpkg --print-architecture)" ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/build-debian.XXXXXX")"
trap 'umount -l "$work/rootfs/proc" 2>/dev/null || true; rm -rf "$work"' EXIT
root="$work/rootfs"
include=()
[ -n "$packages" ] && include=(--include="$packages")
debootstrap --variant=minbase "${include[@]}" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/*.log

layer="$work/layer.tar"
tar --create --file "$layer" --directory "$root" --sort=name --format=gnu \
    --numeric-owner --xattrs \
    --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' .
diff_id="$(sha256sum "$layer" | cut -d' ' -f1)"

mkdir -p "$work/out"
python3 "$(dirname "$0")/oci-pack.py" "$work/out" "$layer" "$diff_id" \
  "application/vnd.oci.image.layer.v1.tar" "$name" oci "$arch" "" \
  "images/build-debian.sh $suite $packages" '["bash"]'
rm -f "$layer"

mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
(cd "$work/out" && tar --create --file - --sort=name --format=gnu \
    --mtime='@0' --owner=0 --group=0 --numeric-owner -- *) >"$tmp_out"
mv -f "$tmp_out" "$out"
