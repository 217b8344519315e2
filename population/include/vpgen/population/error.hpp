// The exception hierarchy of vpgen. Libraries throw, only main() turns an exception into an exit
// code: InputError -> 2 (bad scenario, bad flags), anything else -> 1. Thread-safe (value types).
#pragma once

#include <stdexcept>
#include <string>

namespace vpgen {

// Root of every exception vpgen throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Something the user wrote is wrong: a scenario file, a parameter file, a command-line flag.
// The message is one line and names the file, line and key where they are known.
class InputError : public Error {
 public:
  using Error::Error;
};

// A SQLite failure or a database that is not what vpgen expects. Names the SQLite code.
class StorageError : public Error {
 public:
  using Error::Error;
};

// A failure while simulating a patient. Names the patient index.
class SimulationError : public Error {
 public:
  using Error::Error;
};

}  // namespace vpgen
