// The shipped configuration files as tests edit them: copies written to a test's own folder must
// still find the parameter files the shipped scenario names relative to itself, so those paths
// are made absolute. And an RFC 4180 reader for what `vpgen export --format csv` writes.
#pragma once

#include <fmt/format.h>

#include <string>
#include <vector>

#include "support/files.hpp"

namespace vpgen::testing {

// configs/model/ of the source tree, with its trailing slash.
inline const std::string kModelDir = VPGEN_SOURCE_DIR "/configs/model/";

// configs/default.toml with its parameter paths ("model/NAME.toml") made absolute.
inline std::string default_scenario_text() {
  std::string text = slurp(VPGEN_SOURCE_DIR "/configs/default.toml");
  for (const char* name : {"population", "course", "regimens", "life_table"}) {
    const std::string from = fmt::format("\"model/{}.toml\"", name);
    const std::string to = fmt::format("\"{}{}.toml\"", kModelDir, name);
    const std::size_t at = text.find(from);
    if (at == std::string::npos)
      throw std::runtime_error(fmt::format("configs/default.toml no longer names {}", from));
    text.replace(at, from.size(), to);
  }
  return text;
}

// RFC 4180 records (fields in double quotes may hold commas, "" and line breaks; CRLF or LF).
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> records(1, std::vector<std::string>(1));
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    std::string& field = records.back().back();
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += text[++i];
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      records.back().emplace_back();
    } else if (c == '\r' || c == '\n') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      records.emplace_back(1);
    } else {
      field += c;
    }
  }
  if (records.back().size() == 1 && records.back()[0].empty()) records.pop_back();
  return records;
}

}  // namespace vpgen::testing
