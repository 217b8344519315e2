#include "vpgen/config/data_path.hpp"

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "vpgen/common/printable.hpp"
#include "vpgen/population/error.hpp"

// Both set by tools/config/CMakeLists.txt from GNUInstallDirs: the installed data folder, and the
// way from the installed bin/ to it ("../share/vpgen" for the usual layout).
#ifndef VPGEN_INSTALL_DATA_DIR
#error "VPGEN_INSTALL_DATA_DIR must be defined by the build"
#endif
#ifndef VPGEN_BIN_TO_DATA_DIR
#error "VPGEN_BIN_TO_DATA_DIR must be defined by the build"
#endif

namespace vpgen::config {

namespace {

namespace fs = std::filesystem;

// The data folder beside the running executable's bin/, or "" where /proc/self/exe is unreadable.
fs::path data_dir_beside_executable() {
  std::error_code error;
  const fs::path executable = fs::read_symlink("/proc/self/exe", error);
  if (error || executable.empty()) return {};
  return (executable.parent_path() / VPGEN_BIN_TO_DATA_DIR).lexically_normal();
}

}  // namespace

std::optional<std::string> path_problem(std::string_view path) {
  if (path.empty()) return "the path is empty";
  if (path.find('\0') != std::string_view::npos)
    return fmt::format("the path holds a NUL byte at byte {}", path.find('\0') + 1);
  const auto start = [&] {
    constexpr std::size_t kShown = 40;
    return path.size() <= kShown ? printable(path) : printable(path.substr(0, kShown)) + "...";
  };
  if (path.size() >= PATH_MAX)
    return fmt::format("the path '{}' is {} bytes long; this system allows {}", start(),
                       path.size(), PATH_MAX - 1);
  std::size_t begin = 0;
  while (begin < path.size()) {
    std::size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    if (end - begin > NAME_MAX)
      return fmt::format("the path '{}' has a name of {} bytes; this system allows {}", start(),
                         end - begin, NAME_MAX);
    begin = end + 1;
  }
  return std::nullopt;
}

std::string installed_data_dir() { return VPGEN_INSTALL_DATA_DIR; }

std::vector<DataCandidate> data_candidates(const std::string& path, const std::string& folder) {
  if (fs::path(path).is_absolute()) return {{path, "absolute path"}};
  std::vector<DataCandidate> candidates;
  candidates.push_back({folder.empty() ? path : (fs::path(folder) / path).string(),
                        folder.empty() ? "working directory" : "beside the file naming it"});
  const auto add = [&](const fs::path& data_dir, const char* place) {
    if (data_dir.empty()) return;
    const std::string file = (data_dir / path).lexically_normal().string();
    for (const DataCandidate& seen : candidates)
      if (seen.path == file) return;
    candidates.push_back({file, place});
  };
  if (const char* env = std::getenv(kDataDirVariable); env && *env) add(env, kDataDirVariable);
  add(data_dir_beside_executable(), "installation of this program");
  add(fs::path(installed_data_dir()), "installed data");
  return candidates;
}

std::string find_data_file(const std::string& path, const std::string& folder) {
  if (const auto why = path_problem(path)) throw InputError(*why);
  const std::vector<DataCandidate> candidates = data_candidates(path, folder);
  std::string tried;
  for (const DataCandidate& candidate : candidates) {
    std::error_code error;
    if (fs::exists(candidate.path, error)) return candidate.path;
    tried += fmt::format("{}{} ({})", tried.empty() ? "" : ", ", candidate.path, candidate.place);
  }
  throw InputError(fmt::format("file '{}' not found; tried {}", path, tried));
}

std::string data_search_help() {
  const fs::path beside_executable = data_dir_beside_executable();
  const char* env = std::getenv(kDataDirVariable);
  std::string help = fmt::format(
      "Input files named by a relative path (scenarios and the model files they name, "
      "validate --targets, calibration, design and nightly files) are looked for, in order:\n"
      "  1. beside the file that names them; on the command line, in the working directory\n"
      "  2. in the folder ${} (a folder holding configs/, e.g. a source checkout; {})\n"
      "  3. in the data folder of this installation{}\n",
      kDataDirVariable, env && *env ? fmt::format("now {}", env) : std::string("now unset"),
      beside_executable.empty() ? "" : fmt::format(" ({})", beside_executable.string()));
  if (beside_executable != fs::path(installed_data_dir()))
    help += fmt::format("  4. in {}\n", installed_data_dir());
  return help;
}

}  // namespace vpgen::config
