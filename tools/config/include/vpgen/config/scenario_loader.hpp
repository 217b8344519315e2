// Loading a scenario file and the parameter files it names into a validated vpgen::Scenario.
// Every error is an InputError "file:line: key 'a.b': why". Not thread-safe (pure, but allocates).
#pragma once

#include "vpgen/engine/course_params.hpp"

#include <map>
#include <string>

namespace vpgen::config {

class TableReader;  // vpgen/config/toml_reader.hpp (toml++ stays out of this header)

// Reads the scenario at `path` and the population, course, regimen and life-table files it names.
// Each relative path is looked for as find_data_file (data_path.hpp) says: `path` in the working
// directory first, the files it names in the scenario's folder first, then in $VPGEN_DATA_DIR and
// the installed data. Scenario::source_text holds every file verbatim.
// Each [[arms]] table: name, regimen, and optionally beyond_progression_probability (0..1,
// default 0) and next_line = { regimen, probability (0..1), delay_weeks (>= 0) }.
Scenario load_scenario(const std::string& path);

// As load_scenario, but a file whose path (as the scenario names it, made canonical) is a key of
// `replaced` is read from the map instead of the disk: `vpgen calibrate` evaluates trial scenarios
// under candidate parameter files without writing them. Keys must be canonical paths.
Scenario load_scenario_with(const std::string& path,
                            const std::map<std::string, std::string>& replaced);

// The canonical form of `path` used by load_scenario_with (std::filesystem::weakly_canonical).
std::string canonical_path(const std::string& path);

// Rebuilds a scenario from the bundle stored in runs.scenario_text (Scenario::source_text): the
// same files, read from the bundle instead of the disk. The result equals the original scenario.
Scenario load_scenario_bundle(const std::string& bundle);

// The course file; its life_table stays empty (it comes from read_life_table).
CourseParams read_course(TableReader& root);
// A life table file (configs/model/life_table.toml): source, age_years (increasing), q_female and
// q_male (one per age, 0 <= q < 1). InputError "file:line: key: why" otherwise.
LifeTable read_life_table(TableReader& root);
// A regimen file (configs/model/regimens.toml): one table per regimen with description, class
// (immunotherapy | chemotherapy | targeted | cell_therapy), max_duration_months (0 = no cap but the
// phases'), onset_scale (> 0), source, for class targeted also sensitivity_by_type and
// targeted_resistant_fraction_median, and an array of tables [[<name>.phases]] (at least one, in
// order; only the last may have cycles = 0). Each phase: name, agents, cycle_length_days, cycles,
// pd1_blockade, ctla4_blockade, kill_per_month, cell_dose, irae_hazard_per_month,
// frac_severe_irae, ae_hazard_per_month, frac_severe_ae. Chemotherapy and targeted phases refuse
// blockade, cell_dose and irAE hazard; immunotherapy phases refuse kill_per_month and cell_dose;
// cell therapy refuses kill_per_month and needs cell_dose > 0 in some phase. InputError
// "file:line: key 'name.phases[i].key': why" otherwise.
std::map<std::string, RegimenSpec> read_regimens(TableReader& root);

// Reads a whole input file through vpgen::read_input_file (vpgen/common/safe_file.hpp): a regular
// file of at most kMaxInputFileBytes (16 MiB); InputError "PATH: why" otherwise.
std::string read_text_file(const std::string& path);

// Content fingerprint of a scenario's text: FNV-1a 64-bit, 16 hex digits.
std::string fingerprint(const std::string& text);

}  // namespace vpgen::config
