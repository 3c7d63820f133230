#!/usr/bin/env python3
"""Packs one layer tar and its image config as an image archive directory.

    oci-pack.py OUT_DIR LAYER DIFF_ID LAYER_MEDIA NAME FORMAT ARCH VARIANT [CREATED_BY] [CMD_JSON]

FORMAT is `oci` (an OCI image layout: oci-layout, index.json, blobs/sha256/...) or
`docker` (the `docker save` format). Reproducible: fixed times, canonical JSON.
Used by images/build-busybox.sh and images/build-debian.sh.
"""
import hashlib, json, os, shutil, sys

out, layer, diff_id, layer_media, name, fmt, arch, variant = sys.argv[1:9]
created_by = sys.argv[9] if len(sys.argv) > 9 else "images/build-busybox.sh"
cmd = json.loads(sys.argv[10]) if len(sys.argv) > 10 else ["sh"]

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
        "Cmd": cmd,
        "WorkingDir": "/",
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
    "history": [{"created": "1970-01-01T00:00:00Z", "created_by": created_by}],
}
if variant:
    config["variant"] = variant
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
