#!/usr/bin/env bash
# Push and pull against a local docker-registry, OciPS side by side with skopeo (goal: each <= 0.7x
# skopeo's time), and a second pull through a warm cache, which must download no blob.
# The image is the bench image (make-image.sh) plus incompressible data layers: many layers, > 500 MB.
# BENCH_IMAGE may name an existing bench layout to start from instead of building one.
source "$(dirname "$0")/lib.sh"
base="${BENCH_IMAGE:-$DATA/image}"
[ -f "$base/index.json" ] || "$BENCH_DIR/make-image.sh" >/dev/null
build_bench
image="$DATA/registry-image"
python3 "$BENCH_DIR/make-registry-image.py" "$base" "$image" "${EXTRA_LAYERS:-8}" "${LAYER_MB:-24}"

storage="$DATA/registry-storage"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
host="127.0.0.1:$port"
config="$DATA/registry-config.yml"
cat >"$config" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
http:
  addr: $host
  secret: ocips-bench
YAML
rm -rf "$storage"
docker-registry serve "$config" >"$DATA/registry.log" 2>&1 &
registry_pid=$!
trap 'kill "$registry_pid" 2>/dev/null; rm -rf "$storage" "$DATA/pull-"* "$DATA/pull-cache"' EXIT
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

manifest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$image/index.json")"
layers="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["layers"]))' "$image/blobs/sha256/${manifest#sha256:}")"
echo "image: $layers layers, $(du -sb "$image/blobs" | cut -f1) bytes of blobs; registry $host"

# Push: every run starts from an empty registry.
BEFORE_EACH="rm -rf '$storage'"
measure skopeo_push skopeo copy --quiet --dest-tls-verify=false "oci:$image:latest" "docker://$host/bench/skopeo:latest"
measure ocips_push "${OCIPS_BENCH[@]}" registry-push "oci:$image:latest" "$host/bench/ocips:latest"
BEFORE_EACH=""

# Pull: the image is in the registry once; every run starts with an empty layout (and, for OciPS, an empty cache).
skopeo copy --quiet --dest-tls-verify=false "oci:$image:latest" "docker://$host/bench/pull:latest"
BEFORE_EACH="rm -rf '$DATA/pull-skopeo' '$DATA/pull-ocips' '$DATA/pull-cache'"
measure skopeo_pull skopeo copy --quiet --src-tls-verify=false "docker://$host/bench/pull:latest" "oci:$DATA/pull-skopeo:latest"
measure ocips_pull "${OCIPS_BENCH[@]}" registry-pull "$host/bench/pull:latest" "oci:$DATA/pull-ocips:latest" "$DATA/pull-cache"
BEFORE_EACH=""

# A first pull into an empty cache, then a second one with the cache warm (the layout is new each time).
rm -rf "$DATA/pull-ocips" "$DATA/pull-cache"
"${OCIPS_BENCH[@]}" registry-pull "$host/bench/pull:latest" "oci:$DATA/pull-ocips:latest" "$DATA/pull-cache" 2>&1 | grep -E "downloaded" | sed 's/^/first pull:  /'
rm -rf "$DATA/pull-ocips"
"${OCIPS_BENCH[@]}" registry-pull "$host/bench/pull:latest" "oci:$DATA/pull-ocips:latest" "$DATA/pull-cache" 2>&1 | grep -E "downloaded" | sed 's/^/second pull: /'

echo
ratio "$ocips_push_wall" "$skopeo_push_wall" 0.70 "push: OciPS / skopeo"
ratio "$ocips_pull_wall" "$skopeo_pull_wall" 0.70 "pull: OciPS / skopeo"
