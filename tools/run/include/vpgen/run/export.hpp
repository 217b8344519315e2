// `vpgen runs` and `vpgen export`: the results database for people outside SQL. Runs are listed
// with their provenance; one table (or view) of one run is written as CSV (RFC 4180, a header row)
// or JSON Lines (one object per row, SQL NULL as null), in primary-key order, streamed row by row.
// A CSV text cell that a spreadsheet would evaluate as a formula is written with a leading ' (see
// csv_text_cell); numbers are written as numbers. Thread-safe (no shared state).
#pragma once

#include "vpgen/storage/result_store.hpp"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace vpgen {

// The tables and views `vpgen export` serves, each filtered by run_id.
inline constexpr const std::array<std::string_view, 8>& kExportTables = kRunTables;

// One line per run: id, status, scenario, seed, patients stored/requested, threads, started, wall
// time, commit. Text from the database is printable() (control characters escaped).
std::string runs_text(const std::vector<RunInfo>& runs);
// The same as a JSON array of objects.
nlohmann::json runs_json(const std::vector<RunInfo>& runs);

// Writes table `table` of run `run_id` to `out` as "csv" or "jsonl"; returns the rows written.
// Throws InputError for an unknown table or format, or a run the file does not hold.
std::uint64_t export_table(ResultStore& store, std::int64_t run_id, std::string_view table,
                           std::string_view format, std::ostream& out);

// A CSV field: quoted (with "" for a quote) when it holds a comma, quote, CR or LF, or starts or
// ends with a space.
std::string csv_field(std::string_view text);

// A CSV cell for a TEXT value. One that starts with =, +, -, @, TAB or CR, which a spreadsheet
// would evaluate as a formula (OWASP, "CSV Injection"), gets a leading single quote and is always
// quoted: "'=1+2"; any other text is csv_field(text). Numbers stored as REAL or INTEGER never come
// here, so -1.5 stays a number.
std::string csv_text_cell(std::string_view text);

}  // namespace vpgen
