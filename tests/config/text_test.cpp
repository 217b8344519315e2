// Text that becomes a name, a label or a path is printable (issue 17, items 7 and 8): the strict
// reader refuses control characters and unusable paths with file, line and key; printable()
// escapes what a database may hold; a damaged stored scenario is named, not a bare "stoull".
#include "vpgen/common/printable.hpp"
#include "vpgen/config/data_path.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/config/toml_reader.hpp"
#include "vpgen/population/error.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <climits>
#include <functional>
#include <string>

namespace {

using namespace vpgen;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// A reader over `text` (file "f.toml") to which `read` applies.
std::string reader_error(const std::string& text,
                         const std::function<void(config::TableReader&)>& read) {
  return error_of([&] {
    const toml::table document = config::parse_file_text(text, "f.toml");
    config::TableReader reader(document, "f.toml", "");
    read(reader);
  });
}

}  // namespace

TEST_SUITE_BEGIN("unit");

TEST_CASE("printable escapes control characters, bidi controls and bytes that are not UTF-8") {
  CHECK(printable("plain text, \xC3\xA9t\xC3\xA9 \\ 100%") ==
        "plain text, \xC3\xA9t\xC3\xA9 \\ 100%");
  CHECK(printable("a\x1b[2Jb") == "a\\x1B[2Jb");
  CHECK(printable("one\ntwo\r") == "one\\x0Atwo\\x0D");
  CHECK(printable(std::string("nul\0x", 5)) == "nul\\x00x");
  CHECK(printable("del\x7f") == "del\\x7F");
  CHECK(printable("c1\xC2\x9B") == "c1\\u{9B}");
  CHECK(printable("rlo\xE2\x80\xAEisolate\xE2\x81\xA6") == "rlo\\u{202E}isolate\\u{2066}");
  CHECK(printable("cut \xC3") == "cut \\xC3");
  CHECK(printable("overlong \xC0\xAF") == "overlong \\xC0\\xAF");
  CHECK(printable_lines("row 1\nrow\r2\n") == "row 1\nrow\\x0D2\n");
  CHECK_FALSE(find_unprintable("\xE2\x80\xA9 U+2029 is not in the list").has_value());
}

TEST_CASE("the strict reader refuses control characters in names and allows line breaks in text") {
  const std::string escape =
      reader_error("\n\nname = \"a\\u001bb\"\n", [](config::TableReader& t) { t.string("name"); });
  CHECK(escape.find("f.toml:3: key 'name'") != std::string::npos);
  CHECK(escape.find("\\x1B") != std::string::npos);
  CHECK(escape.find('\x1b') == std::string::npos);
  CHECK(reader_error("name = \"tab\\there\"", [](config::TableReader& t) {
          t.string("name");
        }).find("\\x09") != std::string::npos);
  CHECK(reader_error("name = \"bidi\\u202Eevil\"", [](config::TableReader& t) {
          t.string("name");
        }).find("\\u{202E}") != std::string::npos);
  CHECK(reader_error("names = [\"ok\", \"x\\u0085\"]", [](config::TableReader& t) {
          t.strings("names");
        }).find("key 'names'") != std::string::npos);
  CHECK(reader_error("d = \"two\\n\\tlines\\r\\n\"", [](config::TableReader& t) {
          CHECK(t.text("d") == "two\n\tlines\r\n");
        }) == "");
  CHECK(reader_error("d = \"bell\\u0007\"", [](config::TableReader& t) {
          t.text("d");
        }).find("\\x07") != std::string::npos);
  // A name that is a key: regimens are named by their tables.
  const std::string key = reader_error("[\"anti\\u001bpd1\"]\nx = 1\n", [](config::TableReader& t) {
    for (const auto& [name, node] : t.table()) t.check_key_name(name.str());
  });
  CHECK(key.find("f.toml:1") != std::string::npos);
  CHECK(key.find("anti\\x1Bpd1") == std::string::npos);  // the key is shown once, escaped later
}

TEST_CASE("a path that cannot name a file is refused with file, line and key") {
  const auto path_error = [](const std::string& value) {
    return reader_error(fmt::format("\np = \"{}\"\n", value),
                        [](config::TableReader& t) { t.path("p"); });
  };
  CHECK(path_error("").find("f.toml:2: key 'p': the path is empty") != std::string::npos);
  CHECK(path_error("a\\u0000b").find("NUL") != std::string::npos);
  const std::string long_path = path_error(std::string(PATH_MAX + 10, 'a'));
  CHECK(long_path.find("f.toml:2: key 'p'") != std::string::npos);
  CHECK(long_path.size() < 300);
  CHECK(path_error("dir/" + std::string(NAME_MAX + 1, 'b') + "/f.toml").find("a name of") !=
        std::string::npos);
  CHECK(path_error("model/population.toml") == "");
  CHECK(error_of([] { config::find_data_file(""); }) == "the path is empty");
}

TEST_CASE("a stored scenario with a damaged file header names the damage") {
  const auto bundle_error = [](const std::string& bundle) {
    return error_of([&] { config::load_scenario_bundle(bundle); });
  };
  const std::string damaged = bundle_error("# ==> s.toml (12x bytes) <==\n[scenario]\n");
  CHECK(damaged.find("stored scenario text is damaged") != std::string::npos);
  CHECK(damaged.find("'12x'") != std::string::npos);
  CHECK(bundle_error("# ==> s.toml (-1 bytes) <==\n").find("damaged") != std::string::npos);
  CHECK(bundle_error("# ==> s.toml ( bytes) <==\n").find("damaged") != std::string::npos);
  CHECK(bundle_error("# ==> s.toml (99999999999999999999999 bytes) <==\n").find("damaged") !=
        std::string::npos);
  CHECK(bundle_error("# ==> s.toml (18446744073709551615 bytes) <==\nx\n").find("truncated") !=
        std::string::npos);
}

TEST_SUITE_END();
