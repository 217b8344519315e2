// `vpgen upgrade`: migrate a results database of an older schema version in place (reading
// commands never do), and fold a leftover write-ahead log into the file.
#include "command.hpp"

#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <string>

namespace vpgen::cli {
namespace {

class UpgradeCommand final : public Command {
 public:
  int run(const Invocation&) override {
    std::optional<std::int64_t> from;
    {
      // Migrates in one transaction; closing the last connection checkpoints the -wal.
      ResultStore store(db_, ResultStore::Access::kWriteExisting);
      from = store.migrated_from();
    }
    if (from) fmt::print("{}: migrated from schema version {} to {}\n", db_, *from, kSchemaVersion);
    else fmt::print("{}: already schema version {}; nothing to migrate\n", db_, kSchemaVersion);
    return kExitSuccess;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "upgrade",
        "Migrate a results database of an older schema version in place (report, runs, export "
        "and patient read files as they are and never convert them)");
    add_db_option(*cmd, db_);
    return cmd;
  }

  std::string db_;
};

}  // namespace

std::unique_ptr<Command> make_upgrade_command() { return std::make_unique<UpgradeCommand>(); }

}  // namespace vpgen::cli
