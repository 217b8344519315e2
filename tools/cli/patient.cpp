// `vpgen patient`: replay one patient alone from the stored scenario and seed, and compare it with
// what the run stored (exit 1 when they differ).
#include "command.hpp"

#include "vpgen/common/printable.hpp"
#include "vpgen/run/patient_view.hpp"
#include "vpgen/storage/result_store.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <string>

namespace vpgen::cli {
namespace {

class PatientCommand final : public Command {
 public:
  int run(const Invocation&) override {
    ResultStore store(db_, ResultStore::Access::kReadOnly);
    const ReadSnapshot snapshot(store);  // everything this command reads, from one state
    const ReplayResult replay = replay_patient(store, run_, index_);
    if (format_ == "json") fmt::print("{}\n", replay_json(replay).dump(2));
    else fmt::print("{}", printable_lines(replay_text(replay)));
    return replay.identical ? kExitSuccess : kExitFailure;
  }

 private:
  CLI::App* define(CLI::App& app) override {
    CLI::App* cmd = app.add_subcommand(
        "patient",
        "Replay one patient alone from the stored scenario and seed, and compare it "
        "with what the run stored");
    add_db_option(*cmd, db_);
    cmd->add_option("--run", run_, "Run id")->required();
    cmd->add_option("--patient", index_, "Patient index (0-based)")->required();
    add_format_option(*cmd, format_, "Output format");
    return cmd;
  }

  std::string db_;
  std::int64_t run_ = 0;
  std::uint64_t index_ = 0;
  std::string format_ = "text";
};

}  // namespace

std::unique_ptr<Command> make_patient_command() { return std::make_unique<PatientCommand>(); }

}  // namespace vpgen::cli
