// Strict reading of TOML tables into validated structs. Every key is required unless read with
// optional(); every value is type- and range-checked; finish() rejects keys nobody read, so a typo
// can never fall back to a default. Errors are InputError with "file:line: key 'a.b.c': why".
// Not thread-safe (one reader per table, on one thread).
#pragma once

#include "vpgen/common/printable.hpp"
#include "vpgen/config/data_path.hpp"
#include "vpgen/population/error.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen::config {

// "file:line: key 'k': message" for a node (line from the TOML source region).
inline std::string located(const std::string& file, const toml::source_region& where,
                           std::string_view key, std::string_view message) {
  if (where.begin.line > 0)
    return fmt::format("{}:{}: key '{}': {}", file, where.begin.line, key, message);
  return fmt::format("{}: key '{}': {}", file, key, message);
}

// toml++ builds a dotted key or table header (`[a.b.c...]`, `a.b.c... = 1`) recursively, so some
// tens of thousands of parts overflow the stack: a 200 kB file crashed vpgen (found by
// tests/fuzz). No vpgen file needs more than a few parts; longer keys are refused before parsing.
inline constexpr std::size_t kMaxKeyParts = 64;

// Throws InputError "file:line: ..." at the first key of more than kMaxKeyParts dotted parts.
// Strings are skipped (a dot inside quotes is text); a quoted part (`"a"."b"`) counts as a part.
inline void refuse_deep_keys(const std::string& text, const std::string& file) {
  enum class Last { kOther, kPart, kDot };
  Last last = Last::kOther;
  std::size_t parts = 0;
  std::size_t line = 1;
  const auto bare = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  };
  const auto part = [&] {
    parts = last == Last::kDot ? parts + 1 : 1;
    last = Last::kPart;
    if (parts > kMaxKeyParts)
      throw InputError(fmt::format("{}:{}: a key or table name of more than {} dotted parts", file,
                                   line, kMaxKeyParts));
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      last = Last::kOther;
    } else if (c == ' ' || c == '\t') {
      continue;
    } else if (c == '#') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool triple = text.compare(i, 3, std::string(3, c)) == 0;
      const std::string close = triple ? std::string(3, c) : std::string(1, c);
      std::size_t j = i + close.size();
      while (j < text.size() && text.compare(j, close.size(), close) != 0) {
        if (c == '"' && text[j] == '\\') ++j;  // an escaped character, in basic strings only
        if (j < text.size() && text[j] == '\n') {
          ++line;
          if (!triple) break;  // an unterminated one-line string: the parser reports it
        }
        ++j;
      }
      i = std::min(j + close.size() - 1, text.size());
      part();
    } else if (bare(c)) {
      while (i + 1 < text.size() && bare(text[i + 1])) ++i;
      part();
    } else if (c == '.') {
      last = last == Last::kPart ? Last::kDot : Last::kOther;
    } else {
      last = Last::kOther;
    }
  }
}

// Parses a TOML document; a syntax error becomes InputError "file:line:col: message".
inline toml::table parse_file_text(const std::string& text, const std::string& file) {
  refuse_deep_keys(text, file);
  try {
    return toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}:{}: syntax error: {}", file, e.source().begin.line,
                                 e.source().begin.column, e.description()));
  }
}

class TableReader {
 public:
  // `prefix` is the dotted path of this table in its file ("" at the root).
  TableReader(const toml::table& table, std::string file, std::string prefix)
      : table_(table), file_(std::move(file)), prefix_(std::move(prefix)) {}

  const std::string& file() const { return file_; }
  const std::string& prefix() const { return prefix_; }
  const toml::table& table() const { return table_; }
  std::string key_path(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : fmt::format("{}.{}", prefix_, key);
  }

  bool has(std::string_view key) const { return table_.contains(key); }

  // An error located at `key` (or at this table if the key is absent).
  [[noreturn]] void fail(std::string_view key, std::string_view message) const {
    const toml::node* node = table_.get(key);
    throw InputError(
        located(file_, node ? node->source() : table_.source(), key_path(key), message));
  }

  double number(std::string_view key, double min = -std::numeric_limits<double>::infinity(),
                double max = std::numeric_limits<double>::infinity()) {
    const toml::node& node = require(key);
    double value = 0.0;
    if (auto d = node.value_exact<double>()) {
      value = *d;
    } else if (auto i = node.value_exact<std::int64_t>()) {
      value = static_cast<double>(*i);
    } else {
      fail(key, fmt::format("expected a number, found {}", type_name(node)));
    }
    if (!std::isfinite(value)) fail(key, "must be finite");
    if (value < min || value > max) fail(key, range_message(value, min, max));
    return value;
  }

  // A probability or fraction in [0, 1].
  double probability(std::string_view key) { return number(key, 0.0, 1.0); }

  std::int64_t integer(std::string_view key,
                       std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                       std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
    const toml::node& node = require(key);
    auto i = node.value_exact<std::int64_t>();
    if (!i) fail(key, fmt::format("expected an integer, found {}", type_name(node)));
    if (*i < min || *i > max) fail(key, fmt::format("{} is out of range [{}, {}]", *i, min, max));
    return *i;
  }

  bool boolean(std::string_view key) {
    const toml::node& node = require(key);
    auto b = node.value_exact<bool>();
    if (!b) fail(key, fmt::format("expected true or false, found {}", type_name(node)));
    return *b;
  }

  // A name or label (what is printed in tables, reports and messages): printable text only, no
  // control characters (is_control_character) nor bytes that are not UTF-8.
  std::string string(std::string_view key) {
    std::string s = raw_string(key);
    refuse_unprintable(key, s, "a name or label");
    return s;
  }

  // Free text (descriptions, notes, sources): as string(), but line breaks and tabs are allowed.
  std::string text(std::string_view key) {
    std::string s = raw_string(key);
    std::size_t at = 0;
    while (const auto u = find_unprintable(s, at)) {
      if (!u->utf8 || (u->code != '\n' && u->code != '\r' && u->code != '\t'))
        fail(key, unprintable_message(*u, "text (line breaks and tabs aside)"));
      at = u->at + u->length;
    }
    return s;
  }

  // A file or folder path: not empty, no NUL, within the system's PATH_MAX and NAME_MAX, and
  // printable text.
  std::string path(std::string_view key) {
    std::string s = raw_string(key);
    if (const auto why = path_problem(s)) fail(key, *why);
    refuse_unprintable(key, s, "a path");
    return s;
  }

  // Refuses a name that is a key of this table (regimen names, ...) unless it is printable text.
  void check_key_name(std::string_view key) const {
    if (const auto u = find_unprintable(key)) fail(key, unprintable_message(*u, "a name"));
  }

  // A sub-table; its own unknown keys are checked by its own finish().
  TableReader table(std::string_view key) {
    const toml::node& node = require(key);
    const toml::table* t = node.as_table();
    if (!t) fail(key, fmt::format("expected a table, found {}", type_name(node)));
    return TableReader(*t, file_, key_path(key));
  }

  const toml::array& array(std::string_view key) {
    const toml::node& node = require(key);
    const toml::array* a = node.as_array();
    if (!a) fail(key, fmt::format("expected an array, found {}", type_name(node)));
    return *a;
  }

  // Array of numbers, each in [min, max], of exactly `size` elements if size > 0.
  std::vector<double> numbers(std::string_view key, std::size_t size = 0,
                              double min = -std::numeric_limits<double>::infinity(),
                              double max = std::numeric_limits<double>::infinity()) {
    const toml::array& a = array(key);
    if (size > 0 && a.size() != size)
      fail(key, fmt::format("expected {} numbers, found {}", size, a.size()));
    std::vector<double> out;
    for (const toml::node& element : a) {
      double value = 0.0;
      if (auto d = element.value_exact<double>()) value = *d;
      else if (auto i = element.value_exact<std::int64_t>()) value = static_cast<double>(*i);
      else
        throw InputError(located(file_, element.source(), key_path(key),
                                 fmt::format("expected numbers, found {}", type_name(element))));
      if (!std::isfinite(value) || value < min || value > max)
        throw InputError(
            located(file_, element.source(), key_path(key), range_message(value, min, max)));
      out.push_back(value);
    }
    return out;
  }

  // Array of names (each as string()).
  std::vector<std::string> strings(std::string_view key) {
    const toml::array& a = array(key);
    std::vector<std::string> out;
    for (const toml::node& element : a) {
      auto s = element.value_exact<std::string>();
      if (!s)
        throw InputError(located(file_, element.source(), key_path(key),
                                 fmt::format("expected strings, found {}", type_name(element))));
      if (const auto u = find_unprintable(*s))
        throw InputError(located(file_, element.source(), key_path(key),
                                 unprintable_message(*u, "a name or label")));
      out.push_back(*s);
    }
    return out;
  }

  // The `source` key every parameter table carries: where its values come from, or
  // "assumption: why". Blank is refused: sources are part of the data.
  void require_source() {
    if (text("source").find_first_not_of(" \t\r\n") == std::string::npos)
      fail("source", "must name the source or assumption");
  }

  // An array of exactly N probabilities that sum to 1 (within kSumTolerance: files write a few
  // decimals).
  static constexpr double kSumTolerance = 1e-9;
  template <std::size_t N>
  std::array<double, N> distribution(std::string_view key) {
    const std::vector<double> values = numbers(key, N, 0.0, 1.0);
    std::array<double, N> out{};
    double sum = 0.0;
    for (std::size_t i = 0; i < N; ++i) {
      out[i] = values[i];
      sum += values[i];
    }
    if (std::abs(sum - 1.0) > kSumTolerance)
      fail(key, fmt::format("probabilities sum to {:.10g}, not 1", sum));
    return out;
  }

  // Marks a key as read without reading it (e.g. documentation-only keys such as `source`).
  void skip(std::string_view key) { seen_.insert(std::string(key)); }

  // Rejects every key that was not read: a typo must not silently fall back to a default.
  void finish() const {
    for (const auto& [key, node] : table_) {
      if (!seen_.count(std::string(key.str())))
        throw InputError(located(file_, node.source(), key_path(key.str()), "unknown key"));
    }
  }

  static std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a number";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::table: return "a table";
      case toml::node_type::array: return "an array";
      default: return "a date or time";
    }
  }

 private:
  std::string raw_string(std::string_view key) {
    const toml::node& node = require(key);
    auto s = node.value_exact<std::string>();
    if (!s) fail(key, fmt::format("expected a string, found {}", type_name(node)));
    return *s;
  }

  static std::string unprintable_message(const Unprintable& u, std::string_view what) {
    return fmt::format("{} {} at byte {}: {} must be printable text",
                       u.utf8 ? "control character" : "byte that is not UTF-8",
                       escaped_character(u), u.at + 1, what);
  }

  void refuse_unprintable(std::string_view key, std::string_view s, std::string_view what) const {
    if (const auto u = find_unprintable(s)) fail(key, unprintable_message(*u, what));
  }

  const toml::node& require(std::string_view key) {
    seen_.insert(std::string(key));
    const toml::node* node = table_.get(key);
    if (!node) {
      // A missing key is most often a misspelt one: point at the misspelling instead.
      for (const auto& [other, other_node] : table_) {
        if (key.size() >= 4 && !seen_.count(std::string(other.str())) &&
            edit_distance(other.str(), key) <= std::min<std::size_t>(2, key.size() / 4))
          throw InputError(located(file_, other_node.source(), key_path(other.str()),
                                   fmt::format("unknown key (did you mean '{}'?)", key)));
      }
      throw InputError(located(file_, table_.source(), key_path(key), "missing required key"));
    }
    return *node;
  }

  static std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      std::size_t diagonal = row[0];
      row[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t above = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    return row[b.size()];
  }

  static std::string range_message(double value, double min, double max) {
    return fmt::format("{} is out of range [{}, {}]", value, min, max);
  }

  const toml::table& table_;
  std::string file_;
  std::string prefix_;
  std::set<std::string> seen_;
};

}  // namespace vpgen::config
