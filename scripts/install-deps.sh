#!/usr/bin/env bash
# Installs, from Debian's packages, whatever TDS needs to build and test and is not yet present.
# Idempotent: does nothing when everything is installed; runs `apt-get update` at most once.
# Works as root or through sudo. Add a package here when a module starts to need it.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config make git ca-certificates
  clang llvm libclang-rt-14-dev
  libssl-dev openssl libgcrypt20-dev
  libsodium-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev
  libsqlite3-dev sqlite3 libcmocka-dev libinih-dev libunistring-dev
  libpq-dev bubblewrap curl
  postgresql  # server programs: test_source starts a throwaway cluster on a Unix socket (about 1 s)
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: missing ${missing[*]}; run this script as root or install sudo" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
