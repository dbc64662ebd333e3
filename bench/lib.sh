# Shared by the benchmark scripts: where the data lives, how the engine is run, how a run is measured.
# shellcheck shell=bash
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"
DATA="${OCIPS_BENCH_DATA:-$BENCH_DIR/.data}"
RUNS="${RUNS:-3}"
mkdir -p "$DATA"

# The bench runner, built once in Release: "${OCIPS_BENCH[@]}" SCENARIO ARGS... (an array, so /usr/bin/time can run it).
OCIPS_BENCH=(dotnet "$REPO_DIR/bench/OciPS.Bench/bin/Release/net10.0/OciPS.Bench.dll")

build_bench() {
    dotnet build "$REPO_DIR/bench/OciPS.Bench" -c Release -v quiet -nologo >/dev/null
}

# measure NAME COMMAND...: runs the command RUNS times under /usr/bin/time -v and records the median
# wall time (seconds) and the largest peak RSS (MiB) in the variables NAME_wall and NAME_rss.
measure() {
    local name="$1"
    shift
    local walls=() cpus=() rss=0 log
    log="$(mktemp)"
    for _ in $(seq "$RUNS"); do
        [ -n "${BEFORE_EACH:-}" ] && eval "$BEFORE_EACH"
        sync
        /usr/bin/time -v -o "$log" "$@" >/dev/null 2>>"$DATA/$name.stderr"
        local wall kb
        wall="$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$log")"
        kb="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$log")"
        walls+=("$wall")
        cpus+=("$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { print s }' "$log")")
        [ "$kb" -gt "$rss" ] && rss="$kb"
    done
    rm -f "$log"
    local median
    median="$(printf '%s\n' "${walls[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
    printf -v "${name}_wall" '%s' "$median"
    # CPU seconds (user + system) say what a run costs whatever the machine's load.
    local cpu_var="${name}_cpu"
    printf -v "${name}_cpu" '%s' "$(printf '%s\n' "${cpus[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
    printf -v "${name}_rss" '%s' "$((rss / 1024))"
    printf '%-28s median %8.2f s   cpu %8.2f s   peak RSS %6d MiB   (%s runs)\n' "$name" "$median" "${!cpu_var}" "$((rss / 1024))" "$RUNS"
}

# interleave NAME_A NAME_B: like two measure calls for the commands in the arrays CMD_A and CMD_B, but
# run in turn (A B A B ...), so a drift of the machine's speed during the script falls on both sides.
interleave() {
    local a="$1" b="$2" walls_a=() walls_b=() cpus_a=() cpus_b=() rss_a=0 rss_b=0 r var
    for r in $(seq "$RUNS"); do
        RUNS=1 measure "${a}__run" "${CMD_A[@]}" >/dev/null
        RUNS=1 measure "${b}__run" "${CMD_B[@]}" >/dev/null
        var="${a}__run_wall"; walls_a+=("${!var}"); var="${a}__run_cpu"; cpus_a+=("${!var}")
        var="${a}__run_rss"; [ "${!var}" -gt "$rss_a" ] && rss_a="${!var}"
        var="${b}__run_wall"; walls_b+=("${!var}"); var="${b}__run_cpu"; cpus_b+=("${!var}")
        var="${b}__run_rss"; [ "${!var}" -gt "$rss_b" ] && rss_b="${!var}"
    done
    _record "$a" "$rss_a" "${walls_a[*]}" "${cpus_a[*]}"
    _record "$b" "$rss_b" "${walls_b[*]}" "${cpus_b[*]}"
    # Each B run against the A run beside it: the machine's drift between pairs cancels out.
    local pairs=() i
    for i in "${!walls_a[@]}"; do pairs+=("$(awk -v x="${walls_b[$i]}" -v y="${walls_a[$i]}" 'BEGIN { printf "%.3f", x / y }')"); done
    printf -v "${b}_pairs" '%s' "$(_median "${pairs[*]}")"
    printf '%-28s %s / %s, run by run: %s\n' "" "$b" "$a" "${pairs[*]}"
}

_median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

_record() {
    local name="$1" rss="$2" wall cpu
    wall="$(_median "$3")"
    cpu="$(_median "$4")"
    printf -v "${name}_wall" '%s' "$wall"
    printf -v "${name}_cpu" '%s' "$cpu"
    printf -v "${name}_rss" '%s' "$rss"
    printf '%-28s median %8.2f s   cpu %8.2f s   peak RSS %6d MiB   (%s runs, in turn)   all: %s\n' "$name" "$wall" "$cpu" "$rss" "$RUNS" "$3"
}

# measure_warm NAME COMMAND...: like measure, for an OciPS.Bench scenario run twice in one process
# (OCIPS_BENCH_WARM=1): only the second run is timed, from the process's own clock. It is what a
# PowerShell session sees once it has run the cmdlet: .NET has compiled the code (a cold process
# spends a large share of a 3 s run in the JIT's tiers), so cold and warm are both reported.
measure_warm() {
    local name="$1"
    shift
    local walls=() err
    err="$(mktemp)"
    for _ in $(seq "$RUNS"); do
        [ -n "${BEFORE_EACH:-}" ] && eval "$BEFORE_EACH"
        sync
        OCIPS_BENCH_WARM=1 "$@" >/dev/null 2>"$err"
        cat "$err" >>"$DATA/$name.stderr"
        walls+=("$(awk '/^[a-z0-9-]+: [0-9.]+ s$/ { t = $2 } END { print t }' "$err")")
    done
    rm -f "$err"
    local median
    median="$(printf '%s\n' "${walls[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')"
    printf -v "${name}_wall" '%s' "$median"
    printf '%-28s median %8.2f s   (second run in one process, %s runs)\n' "$name" "$median" "$RUNS"
}

# ratio A B GOAL LABEL: prints A/B and whether it meets the goal (A/B <= GOAL).
ratio() {
    awk -v a="$1" -v b="$2" -v goal="$3" -v label="$4" 'BEGIN {
        r = a / b; printf "%-44s %6.2fx  (goal <= %.2fx: %s)\n", label, r, goal, (r <= goal ? "met" : "NOT met")
    }'
}

# figure A B LABEL: prints A/B with no goal (a figure that explains a goal's ratio, not a goal itself).
figure() {
    awk -v a="$1" -v b="$2" -v label="$3" 'BEGIN { printf "%-44s %6.3fx  (for reference, no goal)\n", label, a / b }'
}

# set_aside PATH...: moves earlier outputs out of the way (a rename into $DATA/.trash) instead of
# deleting them before a timed run. A deletion of a large tree right before a run bills that run for
# it: ext4 mounted with `discard` trims the freed blocks at journal commit, stalling file creation for
# whoever runs next. empty_trash, at the end of a script, deletes what was set aside.
TRASH="$DATA/.trash"
set_aside() {
    mkdir -p "$TRASH"
    local path
    for path in "$@"; do
        [ -e "$path" ] && mv "$path" "$TRASH/$(date +%s%N)-$(basename "$path")"
    done
    return 0
}
empty_trash() {
    rm -rf "$TRASH"
}

# fresh_fs DIR: DIR becomes a new, empty ext4 filesystem (a loop device over $DATA/scratch-fs.img on
# the same disk, made once). Runs that create whole trees each get one: on a filesystem where trees
# were just deleted, ext4 skips inodes deleted in the last 60-300 s when allocating new ones
# (recently_deleted in ialloc.c), which made file creation several times slower for whoever ran after
# a deletion and the directory benchmark swing between 0.29x and 0.48x. Re-making the filesystem
# rewrites its metadata only (nodiscard), so the disk trims nothing, and its inode tables are
# written by mkfs (not by a background thread during the timed run).
FRESH_FS_IMAGE="$DATA/scratch-fs.img"
fresh_fs() {
    local dir="$1"
    mountpoint -q "$dir" && umount "$dir"
    mkdir -p "$dir"
    [ -f "$FRESH_FS_IMAGE" ] || fallocate -l 8G "$FRESH_FS_IMAGE"
    mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$FRESH_FS_IMAGE"
    mount -o loop "$FRESH_FS_IMAGE" "$dir"
    sync
}
release_fs() {
    mountpoint -q "$1" && umount "$1"
    return 0
}

# make_app_tree DIR: an application-like tree of about 300 MB in DIR (the text seeded, so alike on every machine): 3000
# files of 64 KiB of text (compresses like code) in 30 directories, plus 100 MiB of random data.
make_app_tree() {
    python3 - "$1" <<'PY'
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
}
