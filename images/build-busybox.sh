#!/usr/bin/env bash
# Builds a small busybox image archive without any registry or container engine.
#
#   images/build-busybox.sh OUT.tar [--name demo/busybox:1] [--format oci|docker] [--gzip-layer]
#                           [--healthcheck JSON]
#
# The rootfs holds Debian's busybox-static as /bin/busybox, a symlink per applet
# (sh, sleep, httpd, echo, cat, wget, ...), /etc/passwd and /etc/group with root and
# nobody, and /tmp. The archive is either
#   oci     an OCI image layout (oci-layout, index.json, blobs/sha256/...), or
#   docker  the `docker save` format (manifest.json with RepoTags, config, layer.tar).
# --gzip-layer stores the layer gzip-compressed (default: an uncompressed layer tar).
# --healthcheck puts JSON in the image config as Docker's `config.Healthcheck`
# (e.g. '{"Test":["CMD-SHELL","true"],"Interval":1000000000,"Retries":1}').
# Output is reproducible for a given busybox binary: fixed mtimes, owners, order.
# Needs: bash, coreutils, GNU tar, gzip, python3, dpkg, busybox-static; packs with
# images/oci-pack.py.
set -euo pipefail

usage() { echo "usage: $0 OUT.tar [--name NAME] [--format oci|docker] [--gzip-layer] [--healthcheck JSON]" >&2; exit 2; }

out="" name="demo/busybox:1" format="oci" gzip_layer=0 healthcheck=""
while [ $# -gt 0 ]; do
  case "$1" in
    --name) [ $# -ge 2 ] || usage; name="$2"; shift 2 ;;
    --format) [ $# -ge 2 ] || usage; format="$2"; shift 2 ;;
    --gzip-layer) gzip_layer=1; shift ;;
    --healthcheck) [ $# -ge 2 ] || usage; healthcheck="$2"; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "unknown option: $1" >&2; usage ;;
    *) [ -z "$out" ] || usage; out="$1"; shift ;;
  esac
done
[ -n "$out" ] || usage
case "$format" in oci|docker) ;; *) echo "--format must be oci or docker" >&2; exit 2 ;; esac

busybox="${BUSYBOX:-/bin/busybox}"
if ! [ -x "$busybox" ] || ! "$busybox" --list >/dev/null 2>&1; then
  echo "no usable static busybox at $busybox (apt-get install busybox-static)" >&2
  exit 1
fi

# Debian architecture -> OCI architecture (+ variant).
arch="" variant=""
case "$(dpkg --print-architecture)" in
  amd64) arch=amd64 ;;
  arm64) arch=arm64 ;;
  armhf) arch=arm variant=v7 ;;
  armel) arch=arm variant=v5 ;;
  i386) arch=386 ;;
  ppc64el) arch=ppc64le ;;
  s390x) arch=s390x ;;
  riscv64) arch=riscv64 ;;
  mips64el) arch=mips64le ;;
  *) arch="$(dpkg --print-architecture)" ;;
esac

work="$(mktemp -d "${TMPDIR:-/tmp}/build-busybox.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"/{bin,dev,etc,proc,root,sys,tmp,var/www}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
install -m 0755 "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF

# One layer, byte-for-byte reproducible.
layer="$work/layer.tar"
tar --create --file "$layer" --directory "$root" --sort=name --format=gnu \
    --mtime='@0' --owner=0 --group=0 --numeric-owner .
diff_id="$(sha256sum "$layer" | cut -d' ' -f1)"
layer_media="application/vnd.oci.image.layer.v1.tar"
[ "$format" = docker ] && layer_media="application/vnd.docker.image.rootfs.diff.tar"
if [ "$gzip_layer" = 1 ]; then
  gzip -n -9 "$layer"
  layer="$layer.gz"
  if [ "$format" = docker ]; then layer_media="$layer_media.gzip"; else layer_media="$layer_media+gzip"; fi
fi

mkdir -p "$work/out"
python3 "$(dirname "$0")/oci-pack.py" "$work/out" "$layer" "$diff_id" "$layer_media" "$name" "$format" "$arch" "$variant" "$healthcheck"

mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
(cd "$work/out" && tar --create --file - --sort=name --format=gnu \
    --mtime='@0' --owner=0 --group=0 --numeric-owner -- *) >"$tmp_out"
mv -f "$tmp_out" "$out"
