// Helpers shared by the batch_*.cpp files of `vpgen batch` (not a public interface). Pure
// functions, thread-safe, except write_file_atomic (one writer per path).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace vpgen::batch {

// A file-name-safe form of a job name: lower-case ASCII letters and digits, runs of anything else
// as one '-', no leading or trailing '-'; "job" if nothing is left.
std::string file_slug(std::string_view name);

// ISO 8601 UTC with milliseconds: "2026-01-05T02:00:00.123Z".
std::string utc_timestamp(std::chrono::system_clock::time_point when);

// Writes `content` to a temporary created exclusively beside `path` and renames it over `path`
// (vpgen::write_file_atomic): a reader never sees a half-written file, an interrupted write leaves
// no file that looks complete, and a symlink planted in DIR is never written through. Throws
// Error on a failed write, InputError if `path` cannot be replaced (the temporary removed).
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Text for HTML character data and attribute values.
std::string escape_html(std::string_view text);

// One line of an error message: line breaks become spaces.
std::string one_line(std::string_view text);

// The self-contained index page of a batch, from its summary (summary.json's object).
std::string render_index(const nlohmann::json& summary);

}  // namespace vpgen::batch
