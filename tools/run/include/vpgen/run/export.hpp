// `vpgen runs` and `vpgen export`: the results database for people outside SQL. Runs are listed
// with their provenance; one table (or view) of one run is written as CSV (RFC 4180, a header row)
// or JSON Lines (one object per row, SQL NULL as null), in primary-key order, streamed row by row.
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
// time, commit.
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

}  // namespace vpgen
