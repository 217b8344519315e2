#include "vpgen/engine/build_info.hpp"

#include "vpgen/population/random_stream.hpp"

#include <boost/version.hpp>
#include <fmt/format.h>
#include <oneapi/tbb/version.h>

namespace vpgen {

const char* git_commit();  // generated at build time (cmake/git_commit.cmake)

BuildInfo build_info() {
  BuildInfo info;
  info.vpgen_version = VPGEN_VERSION;
  info.git_commit = git_commit();
#if defined(__clang__)
  info.compiler = fmt::format("clang {}", __clang_version__);
#elif defined(__GNUC__)
  info.compiler = fmt::format("g++ {}", __VERSION__);
#else
  info.compiler = "unknown";
#endif
  info.boost_version = fmt::format("{}.{}.{}", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
                                   BOOST_VERSION % 100);
  info.tbb_version = fmt::format("{} (runtime {})", TBB_VERSION_STRING, TBB_runtime_version());
  info.rng_scheme = kRngSchemeVersion;
  return info;
}

}  // namespace vpgen
