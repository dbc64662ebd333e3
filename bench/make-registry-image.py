#!/usr/bin/env python3
"""Derives the registry benchmark image from the bench image (make-image.sh): its layers plus
EXTRA layers of incompressible data, so the image has many layers and more than 500 MB uncompressed.
Usage: make-registry-image.py BASE_LAYOUT OUTPUT_LAYOUT EXTRA_LAYERS MB_PER_LAYER"""
import gzip, hashlib, io, json, os, shutil, sys, tarfile

base, out, extra, mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if os.path.exists(os.path.join(out, "index.json")):
    sys.exit(0)
shutil.rmtree(out, ignore_errors=True)
shutil.copytree(base, out)
blobs = os.path.join(out, "blobs", "sha256")

def write_blob(data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest

def read_blob(digest):
    with open(os.path.join(blobs, digest.split(":")[1]), "rb") as f:
        return f.read()

index = json.load(open(os.path.join(out, "index.json")))
manifest = json.loads(read_blob(index["manifests"][0]["digest"]))
config = json.loads(read_blob(manifest["config"]["digest"]))
for i in range(extra):
    payload = os.urandom(mb * 1024 * 1024)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"opt/data/part-{i:02}.bin")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = raw.getvalue()
    compressed = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
    digest = write_blob(compressed)
    manifest["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": len(compressed)})
    config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
    config.setdefault("history", []).append({"created_by": f"data part {i}"})
config_bytes = json.dumps(config, separators=(",", ":")).encode()
manifest["config"] = {"mediaType": manifest["config"]["mediaType"], "digest": write_blob(config_bytes), "size": len(config_bytes)}
manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": write_blob(manifest_bytes), "size": len(manifest_bytes),
         "annotations": {"org.opencontainers.image.ref.name": "latest"}}
json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry]}, open(os.path.join(out, "index.json"), "w"))
print(f"registry bench image: {len(manifest['layers'])} layers, {sum(l['size'] for l in manifest['layers']) // 2**20} MiB compressed")
