// `vpgen verify`: recompute a results file's block digests and derived tables from its rows and
// replay sampled patients; exit 0 only when everything agrees, 1 when something differs.
#include "command.hpp"

#include "vpgen/run/verify.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace vpgen::cli {
namespace {

class VerifyCommand final : public Command {
 public:
  int run(const Invocation&) override {
    ResultStore store(db_, ResultStore::Access::kReadOnly);
    VerifyOptions options;
    if (run_option_->count() > 0) options.run = run_;
    options.replay = replay_;
    const VerifyResult result = verify_store(store, db_, options);
    if (format_ == "json") fmt::print("{}\n", verify_json(result).dump(2));
    else fmt::print("{}", verify_text(result));
    return result.agrees() ? kExitSuccess : kExitFailure;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "verify",
        "Check a results file: recompute each run's block digests and derived tables from its "
        "rows and replay sampled patients (exit 0: all agree, 1: something differs)");
    add_db_option(*cmd, db_);
    run_option_ = cmd->add_option("--run", run_, "Run id (default: every run in the file)");
    cmd->add_option("--replay", replay_,
                    "Patients per run to replay from the stored scenario and seed (chosen by a "
                    "generator seeded with the run's seed)")
        ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1000000000}));
    add_format_option(*cmd, format_, "Output format");
    return cmd;
  }

  std::string db_;
  std::int64_t run_ = 0;
  CLI::Option* run_option_ = nullptr;
  std::uint64_t replay_ = 0;
  std::string format_ = "text";
};

}  // namespace

std::unique_ptr<Command> make_verify_command() { return std::make_unique<VerifyCommand>(); }

}  // namespace vpgen::cli
