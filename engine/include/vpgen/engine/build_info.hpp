// Versions of vpgen and of the libraries that determine its numbers, for the provenance of every
// run. Thread-safe (returns values).
#pragma once

#include <string>

namespace vpgen {

struct BuildInfo {
  std::string vpgen_version;
  std::string git_commit;
  std::string compiler;
  std::string boost_version;
  std::string tbb_version;
  int rng_scheme = 0;
};

BuildInfo build_info();

}  // namespace vpgen
