#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every test that can
# run on this machine, and a build of the benches. It installs what it needs
# when missing, so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        rustup component add "$component"
    fi
done

# Which backends must run here, read from the machine itself rather than from
# the crate's own detection, so a detection bug fails the suite.
expected="cpu/portable"
if [ "$(uname -m)" = x86_64 ]; then
    grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && expected="$expected,cpu/avx2"
    grep -qw avx512f /proc/cpuinfo && expected="$expected,cpu/avx512"
fi
export GROUPSCALE_EXPECT_BACKENDS="$expected"
unset GROUPSCALE_BACKEND GROUPSCALE_STRICT GROUPSCALE_CPU_ISA GROUPSCALE_THREADS GROUPSCALE_CORES
echo "backends expected to run here: $GROUPSCALE_EXPECT_BACKENDS"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets -- -D warnings

step "feature subsets build"
cargo check --no-default-features --lib
cargo check --no-default-features --features cpu --lib

step "cargo test"
cargo test --all-targets
cargo test --doc

step "selftest from the command line"
cargo run --release --quiet -- selftest

step "benches build"
cargo bench --no-run --quiet

echo
echo "all checks passed"
