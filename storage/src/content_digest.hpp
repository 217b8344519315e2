// Private to storage/src: the canonical encoding of stored values that a block's content digest
// covers (docs/SCHEMA.md, run_blocks), and the digest arithmetic. The writer encodes the values
// it binds (the column tables' feed functions, tables.cpp), verify encodes the values it reads
// back; both must give the same bytes. Thread-safe: functions only.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace vpgen::digest {

// One value as SQLite stores it: a type tag, then its exact bytes (integers and the bit pattern
// of doubles as 8 little-endian bytes, text as its 8-byte length and bytes). A NaN double is
// NULL, as the writer binds it; -0.0 is +0.0, as SQLite stores a REAL column's integral values.
void integer(std::string& out, std::int64_t value);
void real(std::string& out, double value);
void text(std::string& out, std::string_view value);
void null(std::string& out);
// The start of a row of `table` ('p', 'o' or 'e' for patients, outcomes, events).
void row(std::string& out, char table);

// A 256-bit digest. A patient's is SHA-256 of the encoding of its rows (the patient, its outcomes
// in arm order, its events in arm and seq order); a block's and a run's are the sum modulo 2^256
// of their patients' (so a run's does not depend on how it was cut into blocks or shards).
using Value = std::array<std::uint8_t, 32>;
Value sha256(std::string_view bytes);
void add(Value& sum, const Value& term);
std::string hex(const Value& value);
// Parses 64 hex digits; false if `text` is not that.
bool parse(std::string_view text, Value& value);

}  // namespace vpgen::digest
