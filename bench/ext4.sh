#!/usr/bin/env bash
# The ext4 writer against the usual way to make an ext4 root image, on the bench image (make-image.sh):
#   OciPS image -> ext4 (-Size Auto, no journal)  vs  umoci raw unpack + mkfs.ext4 -d (no journal)   (goal <= 0.4x)
# plus both image sizes, e2fsck -fn on OciPS's image, and OciPS's peak RSS (goal <= 512 MiB). Run as root.
source "$(dirname "$0")/lib.sh"
"$BENCH_DIR/make-image.sh" >/dev/null
build_bench

image="$DATA/image"
out="$DATA/out-ext4"
mkdir -p "$out"

# mkfs.ext4 needs a size up front: the unpacked tree plus a third and 64 MiB, as a script would guess it.
peer() {
    umoci raw unpack --image "$1:latest" "$2/unpacked"
    local size=$(( $(du -sb "$2/unpacked" | cut -f1) * 4 / 3 / 1048576 + 64 ))
    mkfs.ext4 -q -F -O ^has_journal -E root_owner=0:0 -d "$2/unpacked" "$2/peer.ext4" "${size}M"
}
export -f peer

empty_trash; sync
BEFORE_EACH="set_aside '$out/unpacked' '$out/peer.ext4' '$out/ocips.ext4'"
measure umoci_mkfs bash -c 'peer "$@"' bash "$image" "$out"
cp --sparse=always "$out/peer.ext4" "$out/peer-kept.ext4"
measure ocips_ext4 "${OCIPS_BENCH[@]}" export-rootfs "oci:$image:latest" "$out/ocips.ext4" Ext4
BEFORE_EACH=""

echo
ratio "$ocips_ext4_wall" "$umoci_mkfs_wall" 0.40 "OciPS ext4 / (umoci raw unpack + mkfs.ext4 -d)"
awk -v r="$ocips_ext4_rss" 'BEGIN { printf "%-44s %6d MiB (goal <= 512: %s)\n", "peak RSS, OciPS ext4", r, (r <= 512 ? "met" : "NOT met") }'
printf '%-44s %s (allocated %s)\n' "image size, OciPS (Auto)" "$(stat -c %s "$out/ocips.ext4")" "$(du -B1 "$out/ocips.ext4" | cut -f1)"
printf '%-44s %s (allocated %s)\n' "image size, mkfs.ext4 -d" "$(stat -c %s "$out/peer-kept.ext4")" "$(du -B1 "$out/peer-kept.ext4" | cut -f1)"
if e2fsck -fn "$out/ocips.ext4" >"$out/e2fsck.txt" 2>&1; then
    echo "e2fsck -fn on the OciPS image: clean"
else
    echo "e2fsck -fn on the OciPS image: PROBLEMS"; cat "$out/e2fsck.txt"
fi
rm -rf "$out"
empty_trash
