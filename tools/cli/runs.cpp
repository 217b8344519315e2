// `vpgen runs`: list the runs of a results database with their provenance.
#include "command.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/run/export.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vpgen::cli {
namespace {

class RunsCommand final : public Command {
 public:
  int run(const Invocation&) override {
    ResultStore store(db_, ResultStore::Access::kReadOnly);
    const ReadSnapshot snapshot(store);  // everything this command reads, from one state
    const std::vector<RunInfo> runs = store.list_runs();
    if (format_ == "json") fmt::print("{}\n", runs_json(runs).dump(2));
    else fmt::print("{}", printable_lines(runs_text(runs)));
    return kExitSuccess;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd =
        app.add_subcommand("runs", "List the runs of a results database with their provenance");
    add_db_option(*cmd, db_);
    add_format_option(*cmd, format_, "Output format");
    return cmd;
  }

  std::string db_;
  std::string format_ = "text";
};

}  // namespace

std::unique_ptr<Command> make_runs_command() { return std::make_unique<RunsCommand>(); }

}  // namespace vpgen::cli
