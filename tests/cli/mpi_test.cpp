// `vpgen size` with its replicates shared between ranks gives the one-process result byte for
// byte: under mpirun at 1, 2 and 3 ranks (Open MPI, --oversubscribe on the 2-core CI machine;
// reported to ctest as skipped where the build has no MPI or mpirun is absent), and in-process with
// ranks that are threads (tests/support/thread_cluster.hpp), which needs no MPI. Failures end every rank
// with one message and the same exit code.
#include "support/cli_runner.hpp"
#include "support/skip.hpp"
#include "support/thread_cluster.hpp"
#include "vpgen/trial_design/trial_design.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace sz = vpgen::trial_design;
using vpgen::testing::CliResult;
using vpgen::testing::replace_once;
using vpgen::testing::slurp;

fs::path temp_dir() { return vpgen::testing::test_dir("mpi_test"); }

// configs/designs/delayed_effect_maxcombo.toml trimmed to a second: three grid points, batches of
// 250 (which 2 and 3 ranks share unevenly) and an MCSE target that stops some points after one
// batch and others later, so the ranks must agree on when to stop.
std::string trimmed_parametric() {
  std::string text = slurp(VPGEN_SOURCE_DIR "/configs/designs/delayed_effect_maxcombo.toml");
  text = replace_once(text, "grid = { from = 200, to = 700, step = 100 }",
                      "grid = { from = 200, to = 400, step = 100 }");
  return replace_once(text, "min = 1000\nmax = 10000\ntarget_mcse = 0.006\nbatch = 1000",
                      "min = 250\nmax = 1000\ntarget_mcse = 0.02\nbatch = 250");
}

// configs/designs/enrichment_nivolumab_pfs.toml with a pool of 600 and few replicates: the pool,
// its summary and the enrichment sweep (some rows too small to simulate) on every rank.
std::string trimmed_mechanistic() {
  std::string text = slurp(VPGEN_SOURCE_DIR "/configs/designs/enrichment_nivolumab_pfs.toml");
  text = replace_once(text, "file = \"../default.toml\"",
                      "file = \"" VPGEN_SOURCE_DIR "/configs/default.toml\"");
  text = replace_once(text, "pool_patients = 20000", "pool_patients = 600");
  text = replace_once(text, "grid = [20, 40, 60, 80, 120, 160, 240, 320]", "grid = [20, 60]");
  return replace_once(text, "min = 500\nmax = 4000\ntarget_mcse = 0.01\nbatch = 500",
                      "min = 101\nmax = 202\ntarget_mcse = 0.05\nbatch = 101");
}

fs::path write_design(const std::string& name, const std::string& text) {
  const fs::path p = temp_dir() / name;
  std::ofstream(p) << text;
  return p;
}

CliResult run_command(const std::string& command) {
  return vpgen::testing::run_command_in(temp_dir(), command);
}

// The mpirun to drive, or empty with the reason in `why_not`.
std::string find_mpirun(std::string& why_not) {
  return vpgen::testing::find_mpirun(temp_dir(), why_not);
}

int count_of(const std::string& text, const std::string& needle) {
  int count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

}  // namespace

TEST_CASE("vpgen size under mpirun at 1, 2 and 3 ranks prints the one-process JSON byte for byte" *
          doctest::test_suite("cli external")) {
  std::string why_not;
  const std::string mpirun = find_mpirun(why_not);
  if (mpirun.empty()) {
    vpgen::testing::skip_test(why_not);
    return;
  }
  for (const auto& [name, text] : {std::pair{"parametric.toml", trimmed_parametric()},
                                   std::pair{"mechanistic.toml", trimmed_mechanistic()}}) {
    const fs::path design = write_design(name, text);
    const CliResult plain =
        run_command(fmt::format("{} size {} --format json", VPGEN_BINARY, design.string()));
    REQUIRE_MESSAGE(plain.exit_code == 0, plain.err);
    REQUIRE(plain.out.find("\"points\"") != std::string::npos);
    for (const int ranks : {1, 2, 3}) {
      CAPTURE(name);
      CAPTURE(ranks);
      const CliResult mpi = run_command(fmt::format("{} -n {} {} size {} --format json --threads 1",
                                                    mpirun, ranks, VPGEN_BINARY, design.string()));
      CHECK_MESSAGE(mpi.exit_code == 0, mpi.err);
      CHECK(mpi.out == plain.out);  // printed once (rank 0) and identical
    }
  }
}

TEST_CASE("a bad design under mpirun ends every rank with one message and exit code 2" *
          doctest::test_suite("cli external")) {
  std::string why_not;
  const std::string mpirun = find_mpirun(why_not);
  if (mpirun.empty()) {
    vpgen::testing::skip_test(why_not);
    return;
  }
  const fs::path design =
      write_design("bad.toml", replace_once(trimmed_parametric(), "seed = 4", "seed = -4"));
  const CliResult mpi =
      run_command(fmt::format("{} -n 2 {} size {}", mpirun, VPGEN_BINARY, design.string()));
  CHECK(mpi.exit_code == 2);
  CHECK_MESSAGE(count_of(mpi.err, "key 'design.seed'") == 1, mpi.err);
  CHECK(mpi.out.empty());
}

TEST_CASE("vpgen size --mpi without a launcher runs as one rank, or refuses without MPI" *
          doctest::test_suite("cli")) {
  const fs::path design = write_design("parametric.toml", trimmed_parametric());
  const CliResult plain =
      run_command(fmt::format("{} size {} --format json", VPGEN_BINARY, design.string()));
  REQUIRE(plain.exit_code == 0);
  const CliResult flagged =
      run_command(fmt::format("{}{} size {} --format json --mpi", vpgen::testing::mpi_environment(),
                              VPGEN_BINARY, design.string()));
#ifdef VPGEN_MPIEXEC
  CHECK_MESSAGE(flagged.exit_code == 0, flagged.err);
  CHECK(flagged.out == plain.out);
#else
  CHECK(flagged.exit_code == 2);
  CHECK(flagged.out.empty());
  CHECK(flagged.err ==
        "vpgen: error: vpgen was built without MPI (cmake -DVPGEN_MPI=ON needs "
        "libopenmpi-dev)\n");
#endif
}

TEST_CASE("run_design shared by 2 and 3 ranks that are threads gives the one-process result") {
  for (const std::string& text : {trimmed_parametric(), trimmed_mechanistic()}) {
    const sz::Design design = sz::read_design_text(text, "design.toml", ".");
    sz::RunOptions alone;
    alone.threads = 1;
    const std::string expected = sz::result_json(sz::run_design(design, alone)).dump();
    for (const int ranks : {2, 3}) {
      CAPTURE(ranks);
      std::mutex mutex;
      std::vector<std::string> got;
      std::uint64_t sent = 0, received = 0;
      vpgen::testing::run_ranks(ranks, [&](vpgen::testing::ThreadCluster& cluster) {
        sz::RunOptions options;
        options.threads = 1;
        options.cluster = &cluster;
        std::string json = sz::result_json(sz::run_design(design, options)).dump();
        const std::lock_guard lock(mutex);
        got.push_back(std::move(json));
        // The work was shared: every rank sent its own part of what each rank received.
        CHECK(cluster.bytes_sent() > 0);
        CHECK(cluster.bytes_sent() < cluster.bytes_received());
        sent += cluster.bytes_sent();
        received = cluster.bytes_received();
      });
      REQUIRE(got.size() == static_cast<std::size_t>(ranks));
      for (const std::string& g : got) CHECK(g == expected);  // every rank holds the result
      CHECK(sent == received);
    }
  }
}
