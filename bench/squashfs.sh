#!/usr/bin/env bash
# The squashfs writer against mksquashfs, on the bench image (make-image.sh), same compressor, level and
# block size, 2 compressing threads for the peer:
#   OciPS image -> squashfs  vs  umoci raw unpack + mksquashfs -processors 2
#   OciPS image -> squashfs  vs  mksquashfs alone on the already-extracted tree   (goal <= 1.0x)
# plus image sizes (goal: within 2% of mksquashfs) and OciPS's peak RSS (goal <= 512 MiB), and the merge
# alone (decompressing and reading every layer), the floor under any sink. Run as root.
# COMPRESSION=gzip|zstd (default gzip), BLOCK_SIZE (default 131072), LEVEL (default: gzip 6, zstd 3).
source "$(dirname "$0")/lib.sh"
"$BENCH_DIR/make-image.sh" >/dev/null
build_bench

compression="${COMPRESSION:-gzip}"
block_size="${BLOCK_SIZE:-131072}"
if [ "$compression" = gzip ]; then level="${LEVEL:-6}"; else level="${LEVEL:-3}"; fi
image="$DATA/image"
out="$DATA/out-squashfs"
rm -rf "$out"
mkdir -p "$out"
mksquashfs_options=(-comp "$compression" -Xcompression-level "$level" -b "$block_size" -processors 2 -noappend -no-progress -quiet -mkfs-time 0 -all-time 0)
ocips_compression="$(tr '[:lower:]' '[:upper:]' <<<"${compression:0:1}")${compression:1}"

echo "bench image: $(du -sb "$image" | cut -f1) bytes; $compression level $level, block size $block_size"

umoci raw unpack --image "$image:latest" "$out/tree"
echo "extracted tree: $(find "$out/tree" | wc -l) entries, $(du -sb "$out/tree" | cut -f1) bytes"

empty_trash; sync
BEFORE_EACH="set_aside '$out/unpacked' '$out/peer.sqfs'"
measure umoci_mksquashfs sh -c 'umoci raw unpack --image "$1:latest" "$2/unpacked" && shift 2 && mksquashfs "$@"' sh "$image" "$out" "$out/unpacked" "$out/peer.sqfs" "${mksquashfs_options[@]}"
BEFORE_EACH="rm -f '$out/alone.sqfs'"
measure mksquashfs_alone mksquashfs "$out/tree" "$out/alone.sqfs" "${mksquashfs_options[@]}"
BEFORE_EACH="rm -f '$out/ocips.sqfs'"
measure ocips_squashfs "${OCIPS_BENCH[@]}" export-rootfs "oci:$image:latest" "$out/ocips.sqfs" SquashFs "$ocips_compression" "$block_size" "$level"
BEFORE_EACH=""
measure merge_floor "${OCIPS_BENCH[@]}" merge "oci:$image:latest"

ours="$(stat -c %s "$out/ocips.sqfs")"
theirs="$(stat -c %s "$out/alone.sqfs")"
echo
ratio "$ocips_squashfs_wall" "$umoci_mksquashfs_wall" 1.00 "OciPS / (umoci raw unpack + mksquashfs)"
ratio "$ocips_squashfs_wall" "$mksquashfs_alone_wall" 1.00 "OciPS / mksquashfs alone"
awk -v a="$merge_floor_wall" -v b="$mksquashfs_alone_wall" 'BEGIN { printf "%-44s %6.2fx  (the floor under the ratio above)\n", "merge alone / mksquashfs alone", a / b }'
ratio "$ours" "$theirs" 1.02 "image size OciPS / mksquashfs ($ours / $theirs bytes)"
awk -v r="$ocips_squashfs_rss" 'BEGIN { printf "%-44s %6d MiB (goal <= 512: %s)\n", "peak RSS, OciPS", r, (r <= 512 ? "met" : "NOT met") }'
unsquashfs -s "$out/ocips.sqfs" >/dev/null && echo "unsquashfs -s reads the OciPS image"
rm -rf "$out"
empty_trash
