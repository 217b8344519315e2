// `vpgen merge`: check shard files (`vpgen simulate --shard K/N`) and combine them into one run.
#include "command.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/run/simulate_run.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace vpgen::cli {
namespace {

class MergeCommand final : public Command {
 public:
  int run(const Invocation&) override {
    const bool show = !quiet_ && isatty(STDERR_FILENO);
    const MergeSummary summary = merge_files(into_, shards_, [&](const MergeProgress& p) {
      if (show)
        fmt::print(stderr, "\rmerging: {}/{} shards, {}/{} patients", p.shards_done, p.shards_total,
                   p.patients_done, p.patients_total);
    });
    if (show) std::fputc('\n', stderr);
    if (format_ == "json") fmt::print("{}\n", merge_json(summary).dump(2));
    else fmt::print("{}", printable_lines(merge_text(summary)));
    return kExitSuccess;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "merge", "Check shard files (vpgen simulate --shard K/N) and combine them into one run");
    cmd->add_option("--into", into_,
                    "Results database to add the run to (created if absent; a new file "
                    "appears only when the merge is complete)")
        ->required();
    cmd->add_option("shards", shards_, "Shard files, in any order")->required();
    add_format_option(*cmd, format_, "Summary format");
    add_quiet_flag(*cmd, quiet_);
    return cmd;
  }

  std::string into_;
  std::vector<std::string> shards_;
  std::string format_ = "text";
  bool quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> make_merge_command() { return std::make_unique<MergeCommand>(); }

}  // namespace vpgen::cli
