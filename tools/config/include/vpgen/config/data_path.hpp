// Where vpgen finds an input file (scenario, model parameters, target mapping, calibration, design
// or nightly file) named by a relative path, so that `vpgen` works from any working directory and
// once installed: beside the file that names it, then $VPGEN_DATA_DIR, then the installed data.
// Thread-safe: reads the environment and the file system, keeps no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen::config {

// The environment variable naming a data folder: a folder that holds configs/, such as a source
// checkout or an installed share/vpgen.
inline constexpr const char* kDataDirVariable = "VPGEN_DATA_DIR";

// One place where a relative path is looked for.
struct DataCandidate {
  std::string path;   // the file tried
  std::string place;  // where that is, for messages: "working directory", "VPGEN_DATA_DIR", ...
};

// The places where `path` is looked for, in order:
//   1. folder / path, where `folder` is the folder of the file that names `path`; "" for a path
//      given on the command line: the working directory, the one place vpgen used to look;
//   2. $VPGEN_DATA_DIR / path, if the variable is set and not empty;
//   3. the data folder of the installation the running program belongs to, found from the
//      executable (<prefix>/bin/../share/vpgen), so an install moved by `--prefix` still works;
//   4. the data folder fixed at configure time, installed_data_dir().
// Places that coincide are listed once. An absolute `path` has one candidate: itself.
std::vector<DataCandidate> data_candidates(const std::string& path, const std::string& folder = "");

// Why `path` cannot name a file on this system, or nothing: it is empty, holds a NUL byte, is
// PATH_MAX bytes or longer, or has a component longer than NAME_MAX bytes. The reason is one line
// and shows at most the start of a long path.
std::optional<std::string> path_problem(std::string_view path);

// The first candidate of data_candidates(path, folder) that exists. From place 1 it returns the
// same string vpgen always used (`path` itself when `folder` is empty), so the names in messages
// and stored runs do not change. Throws InputError "file 'P' not found; tried A (place), ..." (one
// line) if none exists, and InputError "path 'P': why" if path_problem(path) has a reason.
std::string find_data_file(const std::string& path, const std::string& folder = "");

// CMAKE_INSTALL_FULL_DATADIR/vpgen of this build, where `cmake --install` puts configs/.
std::string installed_data_dir();

// The search order as a paragraph for `vpgen --help`, with this program's folders filled in.
std::string data_search_help();

}  // namespace vpgen::config
