#!/usr/bin/env bash
# ConvertTo-OciGitRepo against the naive loop (bench/git-naive.sh: unpack each layer applying
# whiteouts, git add -A, git commit), on the bench image with an extra layer holding a 200 MiB file:
#   time                      goal <= 0.3x the loop's
#   repository size after gc  goal <= the loop's
#   peak RSS                  goal <= 512 MiB
# Run as root (the loop unpacks owners and devices).
source "$(dirname "$0")/lib.sh"
"$BENCH_DIR/make-image.sh" >/dev/null
build_bench

image="$DATA/git-image"
if [ ! -f "$image/index.json" ]; then
    rm -rf "$image"
    cp -r "$DATA/image" "$image"
    big="$(mktemp -d)"
    mkdir -p "$big/opt/big"
    head -c $((200 * 1024 * 1024)) /dev/urandom >"$big/opt/big/200MiB.bin"
    tar -C "$big" -cf "$big.tar" opt
    umoci raw add-layer --image "$image:latest" --tag big --history.created_by "COPY 200MiB.bin /opt/big/" "$big.tar"
    rm -rf "$big" "$big.tar"
fi

out="$DATA/git-out"
mkdir -p "$out"
BEFORE_EACH="rm -rf '$out/naive'"
echo "load average before: $(cut -d" " -f1-3 /proc/loadavg)"
measure naive_loop "$BENCH_DIR/git-naive.sh" "$image" big "$out/naive"
BEFORE_EACH="rm -rf '$out/ocips'"
measure ocips_git "${OCIPS_BENCH[@]}" convert-git "oci:$image:big" "$out/ocips"
BEFORE_EACH=""

echo
# git gc --aggressive recomputes every delta (repack -f) but keeps a non-delta object's compressed
# bytes as they are: after it, the sizes compare the objects each side wrote and how well it
# compressed them. The pack alone leaves out the loop's index (the work tree's, ~2 MiB).
pack_size() { git -C "$1" count-objects -v | awk '/^size-pack:/ { print $2 * 1024 }'; }
naive_before="$(du -sb "$out/naive/.git" | cut -f1)"
ocips_before="$(du -sb "$out/ocips/.git" | cut -f1)"
git -C "$out/naive" gc -q --aggressive
git -C "$out/ocips" gc -q --aggressive
naive_size="$(du -sb "$out/naive/.git" | cut -f1)"
ocips_size="$(du -sb "$out/ocips/.git" | cut -f1)"
naive_pack="$(pack_size "$out/naive")"
ocips_pack="$(pack_size "$out/ocips")"
naive_commits="$(git -C "$out/naive" rev-list --count HEAD)"
ocips_commits="$(git -C "$out/ocips" rev-list --count HEAD)"
echo "commits: naive $naive_commits, OciPS $ocips_commits (one per history step, plus Image.md)"
echo "objects: naive $(git -C "$out/naive" count-objects -v | awk '/^in-pack:/ { print $2 }'), OciPS $(git -C "$out/ocips" count-objects -v | awk '/^in-pack:/ { print $2 }')"
ratio "$ocips_git_wall" "$naive_loop_wall" 0.30 "ConvertTo-OciGitRepo / naive loop (time)"
figure "$ocips_git_cpu" "$naive_loop_cpu" "ConvertTo-OciGitRepo / naive loop (CPU s)"
figure "$ocips_before" "$naive_before" "repository as written, OciPS / naive ($((ocips_before / 1048576)) / $((naive_before / 1048576)) MiB)"
ratio "$ocips_size" "$naive_size" 1.00 ".git after gc, OciPS / naive ($((ocips_size / 1048576)) / $((naive_size / 1048576)) MiB)"
figure "$ocips_pack" "$naive_pack" "pack after gc, OciPS / naive ($(awk -v b="$ocips_pack" 'BEGIN { printf "%.1f", b / 1048576 }') / $(awk -v b="$naive_pack" 'BEGIN { printf "%.1f", b / 1048576 }') MiB)"
awk -v r="$ocips_git_rss" 'BEGIN { printf "%-44s %6d MiB (goal <= 512: %s)\n", "peak RSS, ConvertTo-OciGitRepo", r, (r <= 512 ? "met" : "NOT met") }'
diff <(git -C "$out/naive" ls-tree -r HEAD rootfs | awk '{ print $1, $4 }' | sort) \
     <(git -C "$out/ocips" ls-tree -r HEAD~1 rootfs | awk '{ print $1, $4 }' | sort) >"$out/tree.diff" \
    && echo "last layer's rootfs/: same paths and modes in both repositories" \
    || echo "last layer's rootfs/ differs in $(grep -c '^[<>]' "$out/tree.diff") lines (see $out/tree.diff)"

# -Checkout: libgit2 writes the last tree into the work tree; it reads a blob whole, so the 200 MiB
# file is the peak. One run, after the comparison, so it does not disturb it.
BEFORE_EACH="rm -rf '$out/checkout'"
RUNS=1 measure ocips_git_checkout "${OCIPS_BENCH[@]}" convert-git "oci:$image:big" "$out/checkout" --checkout
BEFORE_EACH=""
awk -v r="$ocips_git_checkout_rss" 'BEGIN { printf "%-44s %6d MiB (goal <= 512: %s)\n", "peak RSS, ConvertTo-OciGitRepo -Checkout", r, (r <= 512 ? "met" : "NOT met") }'
[ -z "$(git -C "$out/checkout" status --porcelain)" ] && echo "-Checkout: git status is clean" || echo "-Checkout: git status NOT clean"
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
