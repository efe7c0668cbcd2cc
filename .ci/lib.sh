# Shared by .ci/setup, .ci/run, .ci/e2e and .ci/demo: paths and tool versions in one place.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Builds are slow on two cores: keep artifacts outside the clone so a fresh clone reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cloudcgm/target}"
export PATH="$HOME/.cargo/bin:$PATH"
CARGO_LEPTOS_VERSION=0.3.10   # 0.3.11 needs rustc 1.96
# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
# wasm-opt from npm's binaryen 132 (end2end/package.json); Debian's 108 silently breaks hydration.
export PATH="$ROOT/end2end/node_modules/.bin:$PATH"
log() { printf '\n==> %s\n' "$*"; }
