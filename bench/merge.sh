#!/usr/bin/env bash
# The streaming merge against its peers, on the bench image (make-image.sh):
#   OciPS Directory export  vs  umoci raw unpack                      (goal <= 0.35x)
#   OciPS Tar export        vs  gzip -dc of every layer to /dev/null  (goal <= 1.3x, the decompression floor)
# and the peak RSS of each OciPS run (goal <= 256 MiB). Run as root.
source "$(dirname "$0")/lib.sh"
"$BENCH_DIR/make-image.sh" >/dev/null
build_bench

image="$DATA/image"
out="$DATA/out"
mkdir -p "$out"
layers=()
while read -r digest; do layers+=("$image/blobs/sha256/${digest#sha256:}"); done < <(
    manifest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$image/index.json")"
    python3 -c 'import json,sys; [print(l["digest"]) for l in json.load(open(sys.argv[1]))["layers"]]' "$image/blobs/sha256/${manifest#sha256:}")

echo "bench image: ${#layers[@]} layers, $(du -cb "${layers[@]}" | tail -1 | cut -f1) compressed bytes"

empty_trash; sync
# Each run writes into a filesystem of its own (fresh_fs in lib.sh): no run pays for an earlier one's trees.
BEFORE_EACH="fresh_fs '$out'"
CMD_A=(umoci raw unpack --image "$image:latest" "$out/umoci")
CMD_B=("${OCIPS_BENCH[@]}" export-rootfs "oci:$image:latest" "$out/ocips-dir" Directory)
interleave umoci_unpack ocips_directory
measure_warm ocips_directory_warm "${OCIPS_BENCH[@]}" export-rootfs "oci:$image:latest" "$out/ocips-dir" Directory
measure gzip_floor sh -c 'for l in "$@"; do gzip -dc "$l"; done >/dev/null' sh "${layers[@]}"
measure ocips_tar "${OCIPS_BENCH[@]}" export-rootfs "oci:$image:latest" "$out/ocips.tar" Tar
BEFORE_EACH=""

echo
ratio "$ocips_directory_wall" "$umoci_unpack_wall" 0.35 "Directory export / umoci raw unpack"
figure "$ocips_directory_pairs" 1 "  the same, median of the run-by-run ratios"
ratio "$ocips_directory_warm_wall" "$umoci_unpack_wall" 0.35 "  the same, warm (a session's second export)"
ratio "$ocips_tar_wall" "$gzip_floor_wall" 1.30 "Tar export / gzip -dc floor"
awk -v d="$ocips_directory_rss" -v t="$ocips_tar_rss" 'BEGIN { printf "%-44s %6d MiB (goal <= 256: %s)\n", "peak RSS, Directory / Tar", (d > t ? d : t), ((d > t ? d : t) <= 256 ? "met" : "NOT met") }'
release_fs "$out"
rm -rf "$out"
empty_trash
