#!/usr/bin/env bash
# Installs the Debian packages tweedle needs to build and test, only those missing.
# Usage: scripts/deps.sh [build|test|fuzz]
set -euo pipefail
build_pkgs=(gcc make pkg-config libmicrohttpd-dev libgnutls28-dev libjansson-dev libsqlite3-dev libssl-dev libexpat1-dev zlib1g-dev libpq-dev)
test_pkgs=(python3 python3-boto3 nodejs npm curl libvips-tools awscli chromium postgresql)  # postgresql: tests/cluster (initdb + postgres 15); vips: examples/pipeline; awscli: /usr/bin/aws v2 (aws logs tail); chromium: tests/js/console.test.mjs
fuzz_pkgs=(clang libclang-rt-dev)  # tests/fuzz: clang -fsanitize=fuzzer,address,undefined
want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}" "${fuzz_pkgs[@]}")  # make test runs the fuzz corpora
[ "${1:-build}" = fuzz ] && want+=("${fuzz_pkgs[@]}")
missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# node/npm may come from elsewhere than Debian; count them present if on PATH.
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  filtered+=("$p")
done
[ ${#filtered[@]} -eq 0 ] && exit 0
echo "deps: installing ${filtered[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${filtered[@]}" >/dev/null
