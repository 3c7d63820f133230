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
# Needs: bash, coreutils, GNU tar, gzip, python3, dpkg, busybox-static.
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
python3 - "$work/out" "$layer" "$diff_id" "$layer_media" "$name" "$format" "$arch" "$variant" "$healthcheck" <<'PY'
import hashlib, json, os, shutil, sys

out, layer, diff_id, layer_media, name, fmt, arch, variant, healthcheck = sys.argv[1:10]

def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

def full_name(ref):
    """docker's normalisation: busybox -> docker.io/library/busybox:latest."""
    first = ref.split("/", 1)[0]
    if "/" not in ref or not ("." in first or ":" in first or first == "localhost"):
        ref = "docker.io/" + ("library/" + ref if "/" not in ref else ref)
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        ref += ":latest"
    return ref

config = {
    "architecture": arch,
    "os": "linux",
    "created": "1970-01-01T00:00:00Z",
    "config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
        "WorkingDir": "/",
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "images/build-busybox.sh"}],
}
if variant:
    config["variant"] = variant
if healthcheck:
    config["config"]["Healthcheck"] = json.loads(healthcheck)
config_bytes = canon(config)
config_hex = hashlib.sha256(config_bytes).hexdigest()
layer_bytes = open(layer, "rb").read()
layer_hex = hashlib.sha256(layer_bytes).hexdigest()

if fmt == "docker":
    with open(os.path.join(out, config_hex + ".json"), "wb") as f:
        f.write(config_bytes)
    os.makedirs(os.path.join(out, diff_id))
    shutil.copyfile(layer, os.path.join(out, diff_id, "layer.tar"))
    manifest = [{
        "Config": config_hex + ".json",
        "RepoTags": [name],
        "Layers": [diff_id + "/layer.tar"],
    }]
    with open(os.path.join(out, "manifest.json"), "wb") as f:
        f.write(canon(manifest))
    repo, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    with open(os.path.join(out, "repositories"), "wb") as f:
        f.write(canon({repo: {tag: diff_id}}))
    sys.exit(0)

blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs)
def blob(data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, h), "wb") as f:
        f.write(data)
    return h
blob(config_bytes)
shutil.copyfile(layer, os.path.join(blobs, layer_hex))
manifest = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:" + config_hex, "size": len(config_bytes)},
    "layers": [{"mediaType": layer_media, "digest": "sha256:" + layer_hex, "size": len(layer_bytes)}],
}
manifest_bytes = canon(manifest)
manifest_hex = blob(manifest_bytes)
platform = {"architecture": arch, "os": "linux"}
if variant:
    platform["variant"] = variant
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:" + manifest_hex,
        "size": len(manifest_bytes),
        "platform": platform,
        "annotations": {
            "io.containerd.image.name": full_name(name),
            "org.opencontainers.image.ref.name": name,
        },
    }],
}
with open(os.path.join(out, "index.json"), "wb") as f:
    f.write(canon(index))
with open(os.path.join(out, "oci-layout"), "wb") as f:
    f.write(canon({"imageLayoutVersion": "1.0.0"}))
PY

mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
(cd "$work/out" && tar --create --file - --sort=name --format=gnu \
    --mtime='@0' --owner=0 --group=0 --numeric-owner -- *) >"$tmp_out"
mv -f "$tmp_out" "$out"
