#!/usr/bin/env bash
# Publish-OciArtifact, Save-OciArtifact and Start-OciRegistryProxy against the work their peers do.
# No ORAS or oci-packer here, so the peers are the irreducible work:
#   publish a 300 MB directory (one tar+gzip layer)  vs  GNU tar -czf of the same directory + sha256sum
#   publish a 256 MiB file                           vs  cp + sha256sum
#   save the artifact back                           vs  tar -xzf of the same layer + cp of the file
#   skopeo copy through the registry proxy           vs  skopeo copy straight from the oci: layout
#   ONLY="file save" runs some of them (dir, file, save, proxy); all by default.
source "$(dirname "$0")/lib.sh"
build_bench
ONLY="${ONLY:-dir file save proxy}"
want() { [[ " $ONLY " == *" $1 "* ]]; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

src="$DATA/artifact-src"
if [ ! -f "$src/.complete" ]; then
    rm -rf "$src"
    mkdir -p "$src/tree"
    make_app_tree "$src/tree"
    head -c $((256 * 1024 * 1024)) /dev/urandom >"$src/big.bin"
    printf 'type: application/vnd.example.bench\nitems:\n  - from: dir://tree\n' >"$src/dir.yaml"
    printf 'type: application/vnd.example.bench\nitems:\n  - from: big.bin\n' >"$src/file.yaml"
    touch "$src/.complete"
fi
echo "directory: $(du -sb "$src/tree" | cut -f1) bytes in $(find "$src/tree" -type f | wc -l) files; file: $(stat -c %s "$src/big.bin") bytes"

out="$DATA/artifact-out"
BEFORE_EACH="rm -rf '$out' '$DATA/artifact-peer'; mkdir -p '$DATA/artifact-peer'"
if want dir; then
    measure publish_dir "${OCIPS_BENCH[@]}" publish-artifact "$src/dir.yaml" "oci:$out:dir"
    measure tar_gzip bash -c "tar -C '$src' --sort=name --owner=0 --group=0 --mtime=@0 -czf '$DATA/artifact-peer/tree.tgz' tree && sha256sum '$DATA/artifact-peer/tree.tgz'"
    ratio "$publish_dir_wall" "$tar_gzip_wall" 1.5 "publish dir / (tar -czf + sha256sum)"
fi

if want file; then
    measure publish_file "${OCIPS_BENCH[@]}" publish-artifact "$src/file.yaml" "oci:$out:file"
    measure cp_sha256 bash -c "cp '$src/big.bin' '$DATA/artifact-peer/' && sha256sum '$src/big.bin'"
    ratio "$publish_file_wall" "$cp_sha256_wall" 1.5 "publish file / (cp + sha256sum)"
fi

if want save || want proxy; then
BEFORE_EACH=""
rm -rf "$out"
"${OCIPS_BENCH[@]}" publish-artifact "$src/dir.yaml" "oci:$out:dir" 2>/dev/null
layer="$(find "$out/blobs/sha256" -size +10M -type f | head -1)"
BEFORE_EACH="rm -rf '$DATA/artifact-saved' '$DATA/artifact-peer'; mkdir -p '$DATA/artifact-peer'"
fi
if want save; then
    measure save_dir "${OCIPS_BENCH[@]}" save-artifact "oci:$out:dir" "$DATA/artifact-saved"
    measure tar_extract tar -xzf "$layer" -C "$DATA/artifact-peer"
    ratio "$save_dir_wall" "$tar_extract_wall" 1.5 "save dir / tar -xzf"
fi
want proxy || { echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"; exit 0; }

port=$((20000 + RANDOM % 20000))
"${OCIPS_BENCH[@]}" registry-proxy "$out" bench/art "$port" 2>/dev/null &
proxy=$!
trap 'kill $proxy 2>/dev/null || true' EXIT
sleep 2
BEFORE_EACH="rm -rf '$DATA/artifact-copy'"
measure skopeo_via_proxy skopeo copy --quiet --src-tls-verify=false --preserve-digests "docker://127.0.0.1:$port/bench/art:dir" "oci:$DATA/artifact-copy:dir"
measure skopeo_from_layout skopeo copy --quiet --preserve-digests "oci:$out:dir" "oci:$DATA/artifact-copy:dir"
ratio "$skopeo_via_proxy_wall" "$skopeo_from_layout_wall" 1.5 "skopeo copy via proxy / from layout"
kill "$proxy" 2>/dev/null || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
