// `vpgen export`: write one table of one run as CSV or JSON Lines (for use outside SQL).
#include "command.hpp"

#include "vpgen/common/safe_file.hpp"
#include "vpgen/population/error.hpp"
#include "vpgen/run/export.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace vpgen::cli {
namespace {

class ExportCommand final : public Command {
 public:
  // To stdout, or to a temporary file created exclusively beside --out and renamed over it at the
  // end (vpgen/common/safe_file.hpp): a failed export leaves no file that looks complete, and a
  // symlink planted at a name beside --out is never written through.
  int run(const Invocation&) override {
    ResultStore store(db_, ResultStore::Access::kReadOnly);
    const ReadSnapshot snapshot(store);  // everything this command reads, from one state
    if (out_.empty()) {
      export_table(store, run_, table_, format_, std::cout);
      std::cout.flush();
      return kExitSuccess;
    }
    AtomicFile file{std::filesystem::path(out_)};
    export_table(store, run_, table_, format_, file.stream());
    file.publish();
    return kExitSuccess;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "export", "Write one table of one run as CSV or JSON Lines (for use outside SQL)");
    add_db_option(*cmd, db_);
    cmd->add_option("--run", run_, "Run id")->required();
    cmd->add_option("--table", table_,
                    "runs, arms, patients, outcomes, events, arm_summary, subgroup_counts or "
                    "survival_counts")
        ->required()
        ->check(
            CLI::IsMember(std::vector<std::string>(kExportTables.begin(), kExportTables.end())));
    cmd->add_option("--format", format_,
                    "csv (RFC 4180, header row; a text cell starting with = + - @ TAB or CR, "
                    "which a spreadsheet would evaluate, gets a leading ') or jsonl")
        ->capture_default_str()
        ->check(CLI::IsMember({"csv", "jsonl"}));
    cmd->add_option("--out", out_, "Output file (default: standard output)");
    return cmd;
  }

  std::string db_;
  std::int64_t run_ = 0;
  std::string table_;
  std::string format_ = "csv";
  std::string out_;  // empty: stdout
};

}  // namespace

std::unique_ptr<Command> make_export_command() { return std::make_unique<ExportCommand>(); }

}  // namespace vpgen::cli
