#!/usr/bin/env bash
# One-command set-up for a fresh Debian 12 machine: installs what is missing (apt-get), builds
# vpgen, then either runs the default scenario (`run`) or the whole test suite (`test`).
#   ./tools/setup.sh run     # -> results.db and a per-arm summary table
#   ./tools/setup.sh test    # -> ctest over every suite
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
case "$mode" in run|test|build) ;; *) echo "usage: $0 run|test|build" >&2; exit 2;; esac

packages=(g++ cmake ninja-build pkg-config git sqlite3 libsqlite3-dev libboost-dev libtbb-dev
          libtomlplusplus-dev doctest-dev libcli11-dev libfmt-dev nlohmann-json3-dev
          librandom123-dev libnlopt-cxx-dev)
# The test suite also checks vpgen against independent software: R's survival package reading the
# ADaM views, R rpact against `vpgen size`, and headless Chromium loading the HTML report (those
# tests skip with a message where the program is absent; `test` installs them).
[ "$mode" = test ] && packages+=(r-base-core r-cran-survival r-cran-rsqlite r-cran-rpact chromium)
# MPI is optional (run needs none): `test` installs Open MPI so that the build has VPGEN_MPI on and
# the tests run `vpgen size` under mpirun at 1, 2 and 3 ranks (skipped without it).
[ "$mode" = test ] && packages+=(openmpi-bin libopenmpi-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_dir="${VPGEN_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" -j "$(nproc)"

case "$mode" in
  run)
    "$build_dir/tools/vpgen" simulate configs/default.toml --db results.db
    ;;
  test)
    ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
    ;;
esac
