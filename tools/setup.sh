#!/usr/bin/env bash
# One-command set-up for a fresh Debian 12 machine: installs what is missing (apt-get), builds
# vpgen, then either runs the default scenario (`run`) or the whole test suite (`test`).
#   ./tools/setup.sh run     # -> results.db and a per-arm summary table
#   ./tools/setup.sh test    # -> ctest over every suite, then again under ASan+UBSan (CI runs this)
# `test` builds with warnings as errors, fails on any skipped test (VPGEN_NO_SKIP=1: the external
# programs are installed, so a skip means something is broken), then builds a second tree
# (build-asan, VPGEN_SANITIZE=ON) and runs the suite there, failing on any sanitizer report.
# VPGEN_SANITIZER_CTEST_ARGS (e.g. "-LE slow"; empty: every test) narrows the sanitizer pass.
# Both passes include the configuration fuzzer (fuzz_tests, label fuzz): 50 mutated configurations
# in Release, the full bounded number under the sanitizers (VPGEN_FUZZ_CASES and VPGEN_FUZZ_SEED
# override; tests/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
case "$mode" in run|test|build) ;; *) echo "usage: $0 run|test|build" >&2; exit 2;; esac

packages=(g++ cmake ninja-build pkg-config git sqlite3 libsqlite3-dev libboost-dev libtbb-dev
          libtomlplusplus-dev doctest-dev libcli11-dev libfmt-dev nlohmann-json3-dev
          librandom123-dev libnlopt-cxx-dev libssl-dev)
# The test suite also checks vpgen against independent software: R's survival package reading the
# ADaM views, R rpact against `vpgen size`, and headless Chromium loading the HTML report (those
# tests report Skipped to ctest where the program is absent; `test` installs them).
[ "$mode" = test ] && packages+=(r-base-core r-cran-survival r-cran-rsqlite r-cran-rpact chromium)
# MPI is optional (run needs none): `test` installs Open MPI so that the build has VPGEN_MPI on and
# the tests run `vpgen size` and `vpgen simulate` under mpirun (skipped without it).
[ "$mode" = test ] && packages+=(openmpi-bin libopenmpi-dev)
# `test` also checks that the sources satisfy .clang-format (Debian 12: clang-format 14).
[ "$mode" = test ] && packages+=(clang-format)
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

if [ "$mode" = test ]; then
  git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror \
    || { echo "setup: sources differ from .clang-format (run clang-format -i on them)" >&2; exit 1; }
fi

build_dir="${VPGEN_BUILD_DIR:-build}"
configure=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
[ "$mode" = test ] && configure+=(-DVPGEN_WERROR=ON)
cmake -S . -B "$build_dir" "${configure[@]}"
cmake --build "$build_dir" -j "$(nproc)"

case "$mode" in
  run)
    "$build_dir/tools/vpgen" simulate configs/default.toml --db results.db
    ;;
  test)
    VPGEN_NO_SKIP=1 ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"

    # The same suite under AddressSanitizer and UndefinedBehaviorSanitizer. Reports go to files
    # (log_path) as well as failing the process, so a report in a child process whose exit code a
    # test does not look at still fails CI. Warnings are errors in the Release tree only: GCC's
    # warnings under -fsanitize include false positives.
    asan_dir="${VPGEN_ASAN_BUILD_DIR:-build-asan}"
    # -O1 -g1: the optimisation ASan recommends, and line tables for its stack traces, at a
    # fraction of the compile time of -O2 -g.
    cmake -S . -B "$asan_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DVPGEN_SANITIZE=ON -DVPGEN_WERROR=OFF
    cmake --build "$asan_dir" -j "$(nproc)" --target vpgen_tests
    rm -rf "$asan_dir/sanitizer-logs" && mkdir -p "$asan_dir/sanitizer-logs"
    logs="$(cd "$asan_dir/sanitizer-logs" && pwd)"
    suppressions="$PWD/tests/sanitizer/lsan.supp"
    read -r -a selection <<< "${VPGEN_SANITIZER_CTEST_ARGS:-}"
    status=0
    ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:log_path=$logs/asan" \
    LSAN_OPTIONS="suppressions=$suppressions:print_suppressions=0" \
    UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$logs/ubsan" \
    VPGEN_NO_SKIP=1 ctest --test-dir "$asan_dir" --output-on-failure -j "$(nproc)" "${selection[@]}" \
      || status=$?
    if compgen -G "$logs/*" >/dev/null; then
      echo "setup: sanitizer reports:" >&2
      cat "$logs"/* >&2
      status=1
    fi
    exit "$status"
    ;;
esac
