// Where vpgen looks for a relative input file: beside the file naming it (the working directory on
// the command line), then $VPGEN_DATA_DIR, then the installed data; and the message when nowhere.
#include "vpgen/config/data_path.hpp"
#include "vpgen/config/scenario_loader.hpp"
#include "vpgen/population/error.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using vpgen::InputError;
using vpgen::config::data_candidates;
using vpgen::config::find_data_file;
using vpgen::config::kDataDirVariable;

// A fresh folder under the system temporary folder, removed with its content at scope exit.
class TempFolder {
 public:
  TempFolder() {
    std::string pattern = (fs::temp_directory_path() / "vpgen_data_path_XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Sets (or, with nullopt, unsets) VPGEN_DATA_DIR for a scope, then restores what was there.
class DataDirVariable {
 public:
  explicit DataDirVariable(const std::optional<std::string>& value) {
    if (const char* old = std::getenv(kDataDirVariable)) old_ = old;
    if (value) ::setenv(kDataDirVariable, value->c_str(), 1);
    else ::unsetenv(kDataDirVariable);
  }
  ~DataDirVariable() {
    if (old_) ::setenv(kDataDirVariable, old_->c_str(), 1);
    else ::unsetenv(kDataDirVariable);
  }

 private:
  std::optional<std::string> old_;
};

// Runs in `folder` for a scope, then returns to the previous working directory.
class WorkingDirectory {
 public:
  explicit WorkingDirectory(const fs::path& folder) : old_(fs::current_path()) {
    fs::current_path(folder);
  }
  ~WorkingDirectory() {
    std::error_code ignored;
    fs::current_path(old_, ignored);
  }

 private:
  fs::path old_;
};

void write(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

std::string error_of(const std::string& path, const std::string& folder) {
  try {
    find_data_file(path, folder);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a relative path is looked for beside its file, then in VPGEN_DATA_DIR, then installed") {
  const TempFolder temp;
  const fs::path beside = temp.path() / "scenarios", data = temp.path() / "data";
  write(data / "model/a.toml", "in the data folder");
  write(data / "model/b.toml", "in the data folder");
  write(beside / "model/b.toml", "beside");
  const DataDirVariable variable(data.string());

  const auto candidates = data_candidates("model/a.toml", beside.string());
  REQUIRE(candidates.size() >= 3);
  CHECK(candidates[0].path == (beside / "model/a.toml").string());
  CHECK(candidates[1].path == (data / "model/a.toml").string());
  CHECK(candidates[1].place == kDataDirVariable);
  CHECK(candidates.back().path ==
        (fs::path(vpgen::config::installed_data_dir()) / "model/a.toml").string());

  // The file beside the naming file wins; the data folder is the fallback.
  CHECK(find_data_file("model/b.toml", beside.string()) == (beside / "model/b.toml").string());
  CHECK(find_data_file("model/a.toml", beside.string()) == (data / "model/a.toml").string());
}

TEST_CASE("a path on the command line is looked for in the working directory first, unchanged") {
  const TempFolder temp;
  write(temp.path() / "configs/s.toml", "here");
  write(temp.path() / "data/configs/s.toml", "there");
  write(temp.path() / "data/configs/only_there.toml", "there");
  const DataDirVariable variable((temp.path() / "data").string());
  const WorkingDirectory cwd(temp.path());
  CHECK(find_data_file("configs/s.toml") == "configs/s.toml");
  CHECK(find_data_file("configs/only_there.toml") ==
        (temp.path() / "data/configs/only_there.toml").string());
  CHECK(data_candidates("configs/s.toml").front().place == "working directory");
}

TEST_CASE("a file found nowhere is one InputError naming every place tried") {
  const TempFolder temp;
  const DataDirVariable variable((temp.path() / "data").string());
  const std::string message = error_of("model/none.toml", (temp.path() / "s").string());
  CHECK(message.rfind("file 'model/none.toml' not found; tried ", 0) == 0);
  CHECK(message.find((temp.path() / "s/model/none.toml").string()) != std::string::npos);
  CHECK(message.find((temp.path() / "data/model/none.toml").string() + " (VPGEN_DATA_DIR)") !=
        std::string::npos);
  CHECK(message.find(vpgen::config::installed_data_dir()) != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("an unset or empty VPGEN_DATA_DIR adds no place, and an absolute path is only itself") {
  for (const std::optional<std::string>& value :
       {std::optional<std::string>(), std::optional<std::string>("")}) {
    const DataDirVariable variable(value);
    for (const auto& candidate : data_candidates("x.toml", "folder"))
      CHECK(candidate.place != kDataDirVariable);
  }
  const auto absolute = data_candidates("/no/such/x.toml", "folder");
  REQUIRE(absolute.size() == 1);
  CHECK(absolute[0].path == "/no/such/x.toml");
}

TEST_CASE("load_scenario finds the scenario and its model files through VPGEN_DATA_DIR") {
  const TempFolder temp;
  const DataDirVariable variable(VPGEN_SOURCE_DIR);
  const WorkingDirectory cwd(temp.path());
  // The shipped scenario, by the path the README gives, from a folder that holds no configs/.
  const vpgen::Scenario shipped = vpgen::config::load_scenario("configs/default.toml");
  CHECK(shipped.name == "default");
  // A scenario of one's own that names the shipped model files as configs/model/...
  std::ifstream in(fs::path(VPGEN_SOURCE_DIR) / "configs/default.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t at = text.find("\"model/"); at != std::string::npos;
       at = text.find("\"model/", at + 1))
    text.insert(at + 1, "configs/");
  write(temp.path() / "mine/scenario.toml", text);
  const vpgen::Scenario mine = vpgen::config::load_scenario("mine/scenario.toml");
  CHECK(mine.source_text.find("# ==> configs/model/population.toml (") != std::string::npos);
  CHECK(mine.population.hot_threshold == shipped.population.hot_threshold);
  CHECK(mine.arms.size() == shipped.arms.size());
}

TEST_CASE("the help text states the search order with this build's folders") {
  const DataDirVariable variable(std::nullopt);
  const std::string help = vpgen::config::data_search_help();
  CHECK(help.find("working directory") != std::string::npos);
  CHECK(help.find(kDataDirVariable) != std::string::npos);
  CHECK(help.find(vpgen::config::installed_data_dir()) != std::string::npos);
  CHECK(help.find("working directory") < help.find(kDataDirVariable));
}
