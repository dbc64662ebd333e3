#!/usr/bin/env bash
# New-OciImage against buildah on the same job: a 300 MB application directory COPYed onto the large
# bench base image (make-image.sh), the result written next to the base.
#   OciPS build (engine, as New-OciImage)  vs  buildah build --isolation chroot --storage-driver vfs + buildah push
# Goal: <= 0.5x buildah, and only the new layer written (the base layers are referenced, never copied).
#
# Destination: the base's own OCI layout (oci:$DATA/image:built), which already holds the base layers,
# so a tool that reuses them writes only the new layer. TODO(registry): once ImageCopy and registry
# destinations land in main, add a MODE=registry run against a local docker-registry on 127.0.0.1.
# Run as root (buildah with vfs storage).
source "$(dirname "$0")/lib.sh"
"$BENCH_DIR/make-image.sh" >/dev/null
build_bench

base="$DATA/image"
app="$DATA/build-context"
if [ ! -f "$app/.complete" ]; then
    rm -rf "$app"
    mkdir -p "$app/app"
    # 300 MB: 3000 files of 64 KiB of text-like data (compresses like an application) + 100 MiB of random data.
    python3 - "$app/app" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(42)
words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(3, 10))) for _ in range(5000)]
for d in range(30):
    os.makedirs(os.path.join(root, f"lib{d:02d}"), exist_ok=True)
    for f in range(100):
        with open(os.path.join(root, f"lib{d:02d}", f"module{f:03d}.js"), "w") as out:
            size = 0
            while size < 64 * 1024:
                line = ' '.join(rng.choice(words) for _ in range(12)) + ';\n'
                out.write(line)
                size += len(line)
with open(os.path.join(root, "assets.bin"), "wb") as out:
    out.write(os.urandom(100 * 1024 * 1024))
PY
    touch "$app/.complete"
fi
printf 'FROM oci:%s:latest\nWORKDIR /opt/app\nCOPY app/ /opt/app/\nENV APP_HOME=/opt/app\nCMD ["/opt/app/start"]\n' "$base" >"$app/Dockerfile"
# buildah's FROM takes no transport: it builds from the base pulled into its storage (timed with it).
printf 'FROM localhost/bench-base\nWORKDIR /opt/app\nCOPY app/ /opt/app/\nENV APP_HOME=/opt/app\nCMD ["/opt/app/start"]\n' >"$app/Dockerfile.buildah"
echo "context: $(du -sb "$app/app" | cut -f1) bytes in $(find "$app/app" -type f | wc -l) files; base: $(du -sb "$base/blobs" | cut -f1) bytes of blobs"

storage="$DATA/buildah-storage"
buildah_run() {
    # buildah pull names an oci: image after its path; skopeo puts the base into the same storage under a name.
    skopeo copy -q "oci:$base:latest" "containers-storage:[vfs@$storage/root+$storage/run]localhost/bench-base:latest"
    buildah --storage-driver vfs --root "$storage/root" --runroot "$storage/run" \
        build --isolation chroot --layers=false -q -f "$app/Dockerfile.buildah" -t localhost/bench-built "$app" >/dev/null
    buildah --storage-driver vfs --root "$storage/root" --runroot "$storage/run" \
        push -q localhost/bench-built "oci:$base:buildah-built" >/dev/null
}

blobs_before() { find "$base/blobs/sha256" -type f | sort >"$DATA/blobs.before"; }
new_blob_bytes() { find "$base/blobs/sha256" -type f | sort | comm -13 "$DATA/blobs.before" - | xargs -r du -cb | tail -1 | cut -f1; }
# Each run starts from the base alone: the new blobs and index entries of the previous run are removed.
reset() {
    rm -rf "$storage"
    if [ -f "$DATA/blobs.before" ]; then find "$base/blobs/sha256" -type f | sort | comm -13 "$DATA/blobs.before" - | xargs -r rm -f; fi
    cp "$DATA/index.json.before" "$base/index.json"
}
cp "$base/index.json" "$DATA/index.json.before"
blobs_before

BEFORE_EACH=reset
measure ocips_build "${OCIPS_BENCH[@]}" build "$app" "oci:$base:built" Oci Gzip
ocips_bytes="$(new_blob_bytes)"
export -f buildah_run
export storage app base
measure buildah_build_push bash -c buildah_run
buildah_bytes="$(new_blob_bytes)"
BEFORE_EACH=""
reset

echo
echo "bytes written next to the base: OciPS $ocips_bytes, buildah $buildah_bytes"
ratio "$ocips_build_wall" "$buildah_build_push_wall" 0.50 "OciPS build / buildah build + push"
