// parse_file_text's guard against keys that toml++ would build recursively until the stack
// overflows (found by tests/fuzz): where it draws the line, and that dots in strings, numbers and
// comments do not count.
#include "vpgen/config/toml_reader.hpp"
#include "vpgen/population/error.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

std::string dotted(std::size_t parts) {
  std::string key = "a";
  for (std::size_t i = 1; i < parts; ++i) key += ".a";
  return key;
}

// before + body + after, by appends (GCC 12's -Wrestrict misfires on `"[" + string + "]"`).
std::string text(const char* before, const std::string& body, const char* after) {
  std::string out = before;
  out += body;
  out += after;
  return out;
}

}  // namespace

TEST_CASE("keys and table names of up to 64 dotted parts parse, longer ones are refused") {
  using vpgen::config::kMaxKeyParts;
  using vpgen::config::parse_file_text;
  CHECK_NOTHROW(parse_file_text(text("", dotted(kMaxKeyParts), " = 1\n"), "f.toml"));
  CHECK_NOTHROW(parse_file_text(text("[", dotted(kMaxKeyParts), "]\n"), "f.toml"));
  CHECK_THROWS_WITH_AS(
      parse_file_text(text("x = 1\n\n", dotted(kMaxKeyParts + 1), " = 1\n"), "f.toml"),
      "f.toml:3: a key or table name of more than 64 dotted parts", vpgen::InputError);
  CHECK_THROWS_WITH_AS(parse_file_text(text("[", dotted(100000), "]\n"), "f.toml"),
                       "f.toml:1: a key or table name of more than 64 dotted parts",
                       vpgen::InputError);
  // Quoted parts count as parts.
  std::string quoted = "\"a\"";
  for (int i = 0; i < 70; ++i) quoted += ".\"a\"";
  CHECK_THROWS_AS(parse_file_text(text("", quoted, " = 1\n"), "f.toml"), vpgen::InputError);
}

TEST_CASE("dots in strings, numbers, arrays and comments are not key parts") {
  using vpgen::config::parse_file_text;
  const std::string many_dots(1000, '.');
  std::string floats = "x = [";
  for (int i = 0; i < 1000; ++i) floats += "1.5, ";
  floats += "2.5]\n";
  CHECK_NOTHROW(parse_file_text(floats, "f.toml"));
  CHECK_NOTHROW(parse_file_text(text("s = \"", dotted(500), "\"\n"), "f.toml"));
  CHECK_NOTHROW(parse_file_text(text("s = '", dotted(500), "'\n"), "f.toml"));
  CHECK_NOTHROW(parse_file_text(text("s = \"\"\"\n", dotted(500), "\n\"\"\"\n"), "f.toml"));
  CHECK_NOTHROW(parse_file_text(text("s = \"q\\\"", dotted(500), "\"\n"), "f.toml"));
  CHECK_NOTHROW(parse_file_text(text("# ", dotted(500), "\nx = 1\n"), "f.toml"));
  CHECK_NOTHROW(parse_file_text(text("x = 1 # ", many_dots, "\n"), "f.toml"));
}
