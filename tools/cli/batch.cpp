// `vpgen batch`: run the scenarios, designs and validation suite of a nightly file into a folder
// and compare every figure with the previous night's (docs/BATCH.md; exit 0, 1 or 3).
#include "command.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/batch/batch.hpp"
#include "vpgen/config/data_path.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <string_view>

namespace vpgen::cli {
namespace {

class BatchCommand final : public Command {
 public:
  int run(const Invocation&) override {
    if (!quiet_)
      options_.on_log = [](std::string_view line) { fmt::print(stderr, "{}\n", printable(line)); };
    options_.nightly_file = config::find_data_file(options_.nightly_file);
    return batch::run_batch(options_);
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "batch",
        "Run the scenarios, designs and validation suite of a nightly file into a "
        "folder (a report per job, index.html, summary.json, batch.log) and compare "
        "every figure with the previous night's (exit 0 ok, 1 a job failed, 3 a figure "
        "changed with the same inputs, seed and build; docs/BATCH.md)");
    cmd->add_option("NIGHTLY.toml", options_.nightly_file, "Nightly file (TOML; docs/BATCH.md)")
        ->required();
    cmd->add_option("--out", options_.out_dir,
                    "Output folder, created if absent; its summary.json and results.db of "
                    "the previous night are moved aside and compared with")
        ->required();
    cmd->add_option("--compare", options_.compare,
                    "Compare with this summary.json (or a folder holding one) instead");
    cmd->add_option("--threads", options_.threads,
                    "Worker threads (0 = all cores; default: the nightly file's, else all)")
        ->check(CLI::Range(0, 1024));
    cmd->add_flag("--quiet", quiet_, "No log lines on stderr (batch.log has them all)");
    return cmd;
  }

  batch::BatchOptions options_;
  bool quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> make_batch_command() { return std::make_unique<BatchCommand>(); }

}  // namespace vpgen::cli
