#!/usr/bin/env bash
# New-OciImage against buildah on the same job: a 300 MB application directory COPYed onto the large
# bench base image (make-image.sh).
#   OciPS build (engine, as New-OciImage)  vs  buildah build --isolation chroot --storage-driver vfs + buildah push
# Goal: <= 0.5x buildah, and only the new layer written/uploaded (the base layers are referenced, never copied).
#
# MODES (default "oci registry"):
#   oci       the destination is the base's own OCI layout (oci:$DATA/image:built), which already holds the base
#             layers; bytes written next to the base are counted.
#   registry  the base is pushed once to a local docker-registry on 127.0.0.1; each run builds FROM it and
#             pushes the result to the same registry (OciPS: New-OciImage -Destination <registry>; buildah:
#             build + push). Every run starts cold: empty buildah storage, empty OciPS blob cache, and the
#             registry holding only the base. Bytes uploaded = growth of the registry's blob storage.
# Run as root (buildah with vfs storage).
source "$(dirname "$0")/lib.sh"
"$BENCH_DIR/make-image.sh" >/dev/null
build_bench

base="$DATA/image"
app="$DATA/build-context"
if [ ! -f "$app/.complete" ]; then
    rm -rf "$app"
    mkdir -p "$app/app"
    make_app_tree "$app/app"
    touch "$app/.complete"
fi
MODES="${MODES:-oci registry}"
printf 'FROM oci:%s:latest\nWORKDIR /opt/app\nCOPY app/ /opt/app/\nENV APP_HOME=/opt/app\nCMD ["/opt/app/start"]\n' "$base" >"$app/Dockerfile"
# buildah's FROM takes no transport: it builds from the base pulled into its storage (timed with it).
printf 'FROM localhost/bench-base\nWORKDIR /opt/app\nCOPY app/ /opt/app/\nENV APP_HOME=/opt/app\nCMD ["/opt/app/start"]\n' >"$app/Dockerfile.buildah"
echo "context: $(du -sb "$app/app" | cut -f1) bytes in $(find "$app/app" -type f | wc -l) files; base: $(du -sb "$base/blobs" | cut -f1) bytes of blobs"

storage="$DATA/buildah-storage"
if [[ " $MODES " == *" oci "* ]]; then
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
fi

if [[ " $MODES " == *" registry "* ]]; then
    regstore="$DATA/build-registry-storage"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    host="127.0.0.1:$port"
    config="$DATA/build-registry-config.yml"
    cat >"$config" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $regstore
http:
  addr: $host
  secret: ocips-bench
YAML
    registry_start() {
        docker-registry serve "$config" >>"$DATA/build-registry.log" 2>&1 &
        registry_pid=$!
        for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    }
    registry_stop() { kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; }
    blob_files() { find "$regstore/docker/registry/v2/blobs" -name data -type f | sort; }
    rm -rf "$regstore"
    registry_start
    trap 'registry_stop' EXIT
    skopeo copy -q --dest-tls-verify=false "oci:$base:latest" "docker://$host/bench/base:latest"
    blob_files >"$DATA/registry-blobs.before"
    echo "registry $host holds the base: $(xargs -r du -cb <"$DATA/registry-blobs.before" | tail -1 | cut -f1) bytes of blobs"

    printf 'FROM %s/bench/base:latest\nWORKDIR /opt/app\nCOPY app/ /opt/app/\nENV APP_HOME=/opt/app\nCMD ["/opt/app/start"]\n' "$host" >"$app/Dockerfile.registry"
    # Each run starts cold: the registry restarted holding only the base (no blob descriptor cached in
    # memory), empty buildah storage and an empty OciPS blob cache, so both tools read the base from the registry.
    registry_reset() {
        registry_stop
        blob_files | comm -13 "$DATA/registry-blobs.before" - | xargs -r -n 1 dirname | xargs -r rm -rf
        rm -rf "$regstore/docker/registry/v2/repositories/bench/ocips" "$regstore/docker/registry/v2/repositories/bench/buildah"
        rm -rf "$storage" "$DATA/build-cache"
        registry_start
    }
    uploaded_bytes() { blob_files | comm -13 "$DATA/registry-blobs.before" - | xargs -r du -cb | tail -1 | cut -f1; }
    buildah_registry_run() {
        buildah --storage-driver vfs --root "$storage/root" --runroot "$storage/run" \
            build --isolation chroot --layers=false --tls-verify=false -q -f "$app/Dockerfile.registry" -t localhost/bench-built "$app" >/dev/null
        buildah --storage-driver vfs --root "$storage/root" --runroot "$storage/run" \
            push -q --tls-verify=false localhost/bench-built "docker://$host/bench/buildah:built" >/dev/null
    }
    export -f buildah_registry_run
    export storage app host

    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    BEFORE_EACH=registry_reset
    measure ocips_registry "${OCIPS_BENCH[@]}" build "$app" "$host/bench/ocips:built" Oci Gzip "$app/Dockerfile.registry" "$DATA/build-cache"
    ocips_uploaded="$(uploaded_bytes)"
    grep -E "^registry:" "$DATA/ocips_registry.stderr" | tail -1 | sed 's/^/OciPS /'
    base_layers="$(skopeo inspect --tls-verify=false --raw "docker://$host/bench/base:latest" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["layers"]))')"
    new_layers="$(skopeo inspect --tls-verify=false --raw "docker://$host/bench/ocips:built" | python3 -c '
import json, sys
raw = sys.stdin.buffer.read()
m = json.loads(raw)
new = m["layers"][int(sys.argv[1]):]
layers, config = sum(l["size"] for l in new), m["config"]["size"]
print(f"{len(new)} new layer(s) {layers} + config {config} + manifest {len(raw)} = {layers + config + len(raw)} bytes")' "$base_layers")"
    measure buildah_registry bash -c buildah_registry_run
    buildah_uploaded="$(uploaded_bytes)"
    BEFORE_EACH=""
    registry_reset

    echo
    echo "bytes uploaded to the registry (its blob storage growth): OciPS $ocips_uploaded, buildah $buildah_uploaded"
    echo "OciPS's image beyond the base: $new_layers"
    ratio "$ocips_registry_wall" "$buildah_registry_wall" 0.50 "registry: OciPS build+push / buildah build+push"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
