// Test helpers for files and text: a scratch folder per test process, reading and writing whole
// files, and editing or locating text in configuration files. Thread-safe except test_dir's first
// call per name (tests call it from one thread).
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

namespace vpgen::testing {

// A fresh folder /tmp/vpgen_<name>_<pid>, created on first use. One per process, so test cases of
// one suite that ctest runs in parallel (each its own process) never share files.
inline std::filesystem::path test_dir(std::string_view name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / fmt::format("vpgen_{}_{}", name, ::getpid());
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// `text` with the first `from` replaced by `to`; a `from` that is absent fails the test (the test
// would otherwise check an unedited file).
inline std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "test setup: '" << from << "' not in the text");
  return text.replace(at, from.size(), to);
}

// The 1-based line of the (occurrence + 1)-th `needle` in `text`; an absent needle fails the test.
inline int line_of(const std::string& text, const std::string& needle, int occurrence = 0) {
  std::size_t at = text.find(needle);
  for (int i = 0; i < occurrence && at != std::string::npos; ++i) at = text.find(needle, at + 1);
  REQUIRE_MESSAGE(at != std::string::npos, "test setup: '" << needle << "' not in the text");
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

}  // namespace vpgen::testing
