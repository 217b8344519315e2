// The configuration fuzzer's mutator (config_fuzz.cpp): text edits of a TOML or CSV file of the
// kind a careless user or an attacker makes. Deleted, duplicated, swapped and truncated lines;
// extreme and wrong-typed values; binary bytes and control characters; deep nesting; huge arrays;
// paths to other files. Every choice comes from one std::mt19937_64 through `pick` (a modulo, not
// a std:: distribution, so that a seed gives the same cases with any standard library). Not
// thread-safe (one Mutator per thread).
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen::fuzz {

// Values that are numbers at or beyond every boundary, or the wrong type for most keys.
inline constexpr std::array<std::string_view, 30> kExtremeValues = {
    "0",
    "-1",
    "1",
    "-0",
    "0.0",
    "-0.0",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "1e400",
    "0x7fffffffffffffff",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "4294967296",
    "2147483648",
    "-2147483649",
    "0.5",
    "1.0000000000000002",
    "1_000",
    "0b1",
    "0o777",
    "99999999999999999999999999999999",
    "-1e-308"};

inline constexpr std::array<std::string_view, 22> kWrongTypedValues = {
    R"("")",
    R"("abc")",
    R"("1e3")",
    R"("nan")",
    "true",
    "false",
    "[]",
    "[1, 2]",
    "[[]]",
    R"([1, "a", 2.5, true])",
    "{}",
    "{ a = 1 }",
    "1979-05-27T07:32:00Z",
    "07:32:00",
    "1979-05-27",
    "'''multi\nline'''",
    R"("""x
y""")",
    R"("\u0000")",
    R"("a\nb")",
    R"("=1+2")",
    R"("\u001b[2J\u001b[H")",
    R"("\u202egnp.x")",
};

// Control characters put inside a quoted string: raw bytes (TOML forbids most of them) and TOML
// escapes (legal: they reach names and descriptions, and so whatever prints them).
inline constexpr std::array<std::string_view, 14> kControlInserts = {
    "\x1b[2J", "\r",      "\x07",    "\x7f",       std::string_view("\0", 1),
    "\x01",    "\t",      "\n",      "\\u001b[2J", "\\n",
    "\\r\\n",  "\\u0007", "\\u202e", "\\u0000"};

// Keys whose value is an amount of work (patients, replicates, evaluations, sample sizes): a valid
// huge value there is a legitimate request for hours of computing, not a hang, so they get only
// the extreme values that a check must refuse (or that are small).
inline constexpr std::array<std::string_view, 9> kWorkKeys = {
    "patients", "pool_patients",         "min", "max", "batch", "max_evaluations", "n_max",
    "grid",     "accrual_rate_per_month"};
inline constexpr std::array<std::string_view, 5> kValidHugeIntegers = {
    "0x7fffffffffffffff", "9223372036854775807", "4294967296", "2147483648",
    "99999999999999999999999999999999"};

class Mutator {
 public:
  // `max_table_copies`: how often an [[array]] table may be repeated (each copy of a batch job
  // is a whole run).
  explicit Mutator(std::uint64_t seed, std::size_t max_table_copies = 1000)
      : rng_(seed), max_table_copies_(max_table_copies) {}

  // A number in [0, n); n > 0.
  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
  bool chance(unsigned percent) { return pick(100) < percent; }
  template <class Container>
  const auto& one_of(const Container& c) {
    return c[pick(c.size())];
  }

  // `text` after 1 to 3 edits; `paths` are strings that may replace a path value (other files of
  // the tree, the file itself, folders, missing files). `log` receives one line per edit.
  std::string mutate(std::string text, const std::vector<std::string>& paths, std::string& log) {
    const std::size_t edits = 1 + pick(3);
    for (std::size_t i = 0; i < edits; ++i) text = mutate_once(std::move(text), paths, log);
    return text;
  }

 private:
  static std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t at = 0;
    while (at <= text.size()) {
      const std::size_t end = text.find('\n', at);
      if (end == std::string::npos) {
        if (at < text.size()) lines.push_back(text.substr(at));
        break;
      }
      lines.push_back(text.substr(at, end - at));
      at = end + 1;
    }
    return lines;
  }

  static std::string join(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    return text;
  }

  // Indexes of lines `key = value` (not comments).
  static std::vector<std::size_t> assignments(const std::vector<std::string>& lines) {
    std::vector<std::size_t> found;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const auto first = lines[i].find_first_not_of(" \t");
      if (first == std::string::npos || lines[i][first] == '#' || lines[i][first] == '[') continue;
      if (lines[i].find('=') != std::string::npos) found.push_back(i);
    }
    return found;
  }

  static bool is_work_key(const std::string& line) {
    const auto first = line.find_first_not_of(" \t");
    const auto end = line.find_first_of(" \t=", first);
    if (first == std::string::npos || end == std::string::npos) return false;
    const std::string_view key(line.data() + first, end - first);
    return std::find(kWorkKeys.begin(), kWorkKeys.end(), key) != kWorkKeys.end();
  }

  std::string deep_nesting() {
    static constexpr std::array<std::size_t, 5> kDepths = {64, 1000, 10000, 100000, 1000000};
    const std::size_t depth = one_of(kDepths);
    switch (pick(5)) {
      case 0: return "deep = " + std::string(depth, '[') + "1" + std::string(depth, ']');
      case 1: {
        std::string value = "deep = ";
        for (std::size_t i = 0; i < depth; ++i) value += "{a=";
        return value + "1" + std::string(depth, '}');
      }
      case 2: {
        std::string key;
        for (std::size_t i = 0; i < depth; ++i) key += "a.";
        return "[" + key + "a]";
      }
      case 3: {
        std::string key;
        for (std::size_t i = 0; i < depth; ++i) key += "a.";
        return key + "a = 1";
      }
      default: return std::string(depth, '[');
    }
  }

  std::string huge_array() {
    static constexpr std::array<std::size_t, 4> kSizes = {1000, 10000, 100000, 1000000};
    const std::size_t n = one_of(kSizes);
    const std::string_view element =
        one_of(std::array<std::string_view, 4>{"0", "1.5", "\"a\"", "{}"});
    std::string value = "[";
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) value += ", ";
      value += element;
    }
    return value + "]";
  }

  std::string binary_bytes() {
    std::string bytes(1 + pick(64), '\0');
    for (auto& b : bytes) b = static_cast<char>(pick(256));
    return bytes;
  }

  std::string mutate_once(std::string text, const std::vector<std::string>& paths,
                          std::string& log) {
    std::vector<std::string> lines = lines_of(text);
    const std::vector<std::size_t> values = assignments(lines);
    const std::size_t line = lines.empty() ? 0 : pick(lines.size());
    const auto value_line = [&]() { return values.empty() ? line : one_of(values); };
    // Replaces the value of an assignment line; false if there is none.
    const auto set_value = [&](std::size_t at, const std::string& value) {
      if (at >= lines.size()) return false;
      const auto eq = lines[at].find('=');
      if (eq == std::string::npos) return false;
      lines[at] = lines[at].substr(0, eq + 1) + " " + value;
      return true;
    };
    switch (pick(16)) {
      case 0:
        if (lines.empty()) break;
        log += fmt::format("delete line {}\n", line + 1);
        lines.erase(lines.begin() + static_cast<long>(line));
        return join(lines);
      case 1:
        if (lines.empty()) break;
        log += fmt::format("duplicate line {}\n", line + 1);
        lines.insert(lines.begin() + static_cast<long>(line), lines[line]);
        return join(lines);
      case 2:
      case 3: {
        const std::size_t at = value_line();
        std::string value(one_of(kExtremeValues));
        if (at < lines.size() && is_work_key(lines[at]))
          while (std::find(kValidHugeIntegers.begin(), kValidHugeIntegers.end(), value) !=
                 kValidHugeIntegers.end())
            value = one_of(kExtremeValues);
        if (!set_value(at, value)) break;
        log += fmt::format("line {}: value {}\n", at + 1, value);
        return join(lines);
      }
      case 4: {
        const std::size_t at = value_line();
        const std::string value(one_of(kWrongTypedValues));
        if (!set_value(at, value)) break;
        log += fmt::format("line {}: wrong-typed value {}\n", at + 1, value);
        return join(lines);
      }
      case 5: {  // a path value to somewhere else
        std::vector<std::size_t> path_lines;
        for (std::size_t i : values)
          if (lines[i].find(".toml\"") != std::string::npos ||
              lines[i].find(".csv\"") != std::string::npos)
            path_lines.push_back(i);
        if (path_lines.empty() || paths.empty()) break;
        const std::size_t at = one_of(path_lines);
        const std::string value = "\"" + one_of(paths) + "\"";
        set_value(at, value);
        log += fmt::format("line {}: path {}\n", at + 1, value);
        return join(lines);
      }
      case 6: {
        const std::size_t at = pick(text.size() + 1);
        log += fmt::format("truncate at byte {} of {}\n", at, text.size());
        return text.substr(0, at);
      }
      case 7: {
        const std::size_t at = pick(text.size() + 1);
        const std::string bytes = binary_bytes();
        log += fmt::format("{} binary bytes at byte {}\n", bytes.size(), at);
        return text.insert(at, bytes);
      }
      case 8: {  // a control character inside a quoted string
        std::vector<std::size_t> quoted;
        for (std::size_t i : values)
          if (lines[i].find('"') != std::string::npos) quoted.push_back(i);
        if (quoted.empty()) break;
        const std::size_t at = one_of(quoted);
        const std::string insert(one_of(kControlInserts));
        lines[at].insert(lines[at].find('"') + 1, insert);
        log += fmt::format("line {}: control characters in a string\n", at + 1);
        return join(lines);
      }
      case 9: {
        const std::string nested = deep_nesting();
        log += fmt::format("line {}: deep nesting ({} bytes)\n", line + 1, nested.size());
        lines.insert(lines.begin() + static_cast<long>(std::min(line, lines.size())), nested);
        return join(lines);
      }
      case 10: {
        const std::size_t at = value_line();
        const std::string array = huge_array();
        if (!set_value(at, array)) break;
        log += fmt::format("line {}: huge array ({} bytes)\n", at + 1, array.size());
        return join(lines);
      }
      case 11: {  // an [[array]] table repeated
        std::vector<std::size_t> heads;
        for (std::size_t i = 0; i < lines.size(); ++i)
          if (lines[i].rfind("[[", 0) == 0) heads.push_back(i);
        if (heads.empty()) break;
        const std::size_t head = one_of(heads);
        std::size_t end = head + 1;
        while (end < lines.size() && lines[end].rfind("[", 0) != 0) ++end;
        const std::vector<std::string> block(lines.begin() + static_cast<long>(head),
                                             lines.begin() + static_cast<long>(end));
        const std::size_t copies =
            std::min(max_table_copies_, one_of(std::array<std::size_t, 3>{2, 50, 1000}));
        for (std::size_t c = 0; c < copies; ++c)
          lines.insert(lines.begin() + static_cast<long>(end), block.begin(), block.end());
        log += fmt::format("line {}: table repeated {} times\n", head + 1, copies);
        return join(lines);
      }
      case 12: {
        if (lines.size() < 2) break;
        const std::size_t other = pick(lines.size());
        std::swap(lines[line], lines[other]);
        log += fmt::format("swap lines {} and {}\n", line + 1, other + 1);
        return join(lines);
      }
      case 13: {  // a key renamed (a typo, an unknown key, an empty or quoted key)
        const std::size_t at = value_line();
        if (at >= lines.size()) break;
        const auto eq = lines[at].find('=');
        if (eq == std::string::npos) break;
        const std::string key(one_of(
            std::array<std::string_view, 5>{"typo_key", "\"\"", "\"a\\u0000b\"", "'x y'", "1"}));
        lines[at] = key + " " + lines[at].substr(eq);
        log += fmt::format("line {}: key {}\n", at + 1, key);
        return join(lines);
      }
      case 14: {  // one bit flipped
        if (text.empty()) break;
        const std::size_t at = pick(text.size());
        text[at] = static_cast<char>(text[at] ^ (1 << pick(8)));
        log += fmt::format("bit flip at byte {}\n", at);
        return text;
      }
      default: {  // whole-file encodings
        switch (pick(3)) {
          case 0: log += "UTF-8 BOM\n"; return "\xEF\xBB\xBF" + text;
          case 1: {
            std::string crlf;
            for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
            log += "CRLF line ends\n";
            return crlf;
          }
          default: {
            const std::size_t at = pick(text.size() + 1);
            log += fmt::format("invalid UTF-8 at byte {}\n", at);
            return text.insert(at, "\xC0\xAF\xFF\xFE");
          }
        }
      }
    }
    // The chosen edit does not apply to this text (no assignment, no string): truncate instead.
    const std::size_t at = pick(text.size() + 1);
    log += fmt::format("truncate at byte {} of {}\n", at, text.size());
    return text.substr(0, at);
  }

  std::mt19937_64 rng_;
  std::size_t max_table_copies_;
};

}  // namespace vpgen::fuzz
