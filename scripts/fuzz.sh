#!/usr/bin/env bash
# Builds every cargo-fuzz target under fuzz/ and runs each for SECONDS
# (default 20) from a temporary copy of its seed corpus, so fuzz/corpus is
# never modified. Fails if any target finds a crash, a leak, a timeout or an
# out-of-memory input; the reproducer is left in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS]
#   FUZZ_TARGETS="npy idx" scripts/fuzz.sh 60   # a subset
#
# Needs a nightly toolchain and cargo-fuzz, and installs both when missing.
# See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
case "$seconds" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

export CARGO_INCREMENTAL=0

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# -O: optimised, as the targets are meant to run; -a: with debug assertions
# and overflow checks, so arithmetic overflow is a crash, not a wrapped value.
build_flags=(-O -a)

all_targets=$(cargo +nightly fuzz list)
targets="${FUZZ_TARGETS:-$all_targets}"

echo "== building fuzz targets: $(echo $targets)"
start=$(date +%s)
cargo +nightly fuzz build "${build_flags[@]}"
echo "built in $(( $(date +%s) - start )) s"

# Per-target libFuzzer options: a CIFAR-10 record is 3,073 bytes.
target_options() {
    case "$1" in
        cifar) echo "-max_len=12300" ;;
        model_loader) echo "-max_len=8192" ;;
        *) ;;
    esac
}

work=$(mktemp -d "${TMPDIR:-/tmp}/groupscale-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=()
for target in $targets; do
    echo
    echo "== $target: ${seconds} s"
    corpus="$work/corpus/$target"
    mkdir -p "$corpus" fuzz/artifacts/"$target"
    if [ -d fuzz/corpus/"$target" ]; then
        cp -R fuzz/corpus/"$target"/. "$corpus"/
    fi
    log="$work/$target.log"
    # shellcheck disable=SC2046
    if cargo +nightly fuzz run "${build_flags[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 $(target_options "$target") >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs' "$log" || tail -n 3 "$log"
    else
        # The panic or sanitizer report and the reproducer's path, without
        # libFuzzer's dump of the input.
        sed -n -e '/panicked at/,/^stack backtrace/p' -e '/^==[0-9]*==ERROR/,+12p' \
            -e '/^SUMMARY:/p' -e '/Test unit written/p' -e '/^Reproduce with:/,+2p' "$log" |
            head -n 60
        echo "!! $target failed; reproducer (if any) in fuzz/artifacts/$target/" >&2
        failed+=("$target")
    fi
done

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzzing: every target ran ${seconds} s without a crash"
