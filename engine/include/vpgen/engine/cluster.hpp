// The processes that share one run: MPI ranks, or this process alone (LocalCluster). The engine
// sees only this interface; tools/cli/mpi_cluster.* implements it over MPI, so no MPI header
// reaches the libraries. Collective calls must be made by every rank, in the same order, from one
// thread per rank: a Cluster is not thread-safe. LocalCluster has no state and is thread-safe.
#pragma once

#include "vpgen/population/error.hpp"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vpgen {

class Cluster {
 public:
  virtual ~Cluster() = default;
  // This process's rank, 0 .. size() - 1.
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Collective: returns once every rank has called it.
  virtual void barrier() = 0;
  // Collective: every rank passes its bytes (any length, which may differ between ranks); every
  // rank receives all ranks' bytes concatenated in rank order.
  virtual std::vector<std::byte> allgather(std::span<const std::byte> mine) = 0;
  // Collective: the logical AND of every rank's `mine`.
  virtual bool all_true(bool mine) = 0;
  // Collective: rank 0's `value_on_root` on every rank (the others' argument is ignored).
  virtual std::uint64_t broadcast_u64(std::uint64_t value_on_root) = 0;
};

// One process: rank 0 of 1; every collective returns at once with this rank's own data.
class LocalCluster final : public Cluster {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void barrier() override {}
  std::vector<std::byte> allgather(std::span<const std::byte> mine) override {
    return {mine.begin(), mine.end()};
  }
  bool all_true(bool mine) override { return mine; }
  std::uint64_t broadcast_u64(std::uint64_t value_on_root) override { return value_on_root; }
};

// A LocalCluster shared by every caller that was given no cluster (it has no state).
Cluster& local_cluster();

// The contiguous share [begin, end) of `count` items owned by `rank` of `size`:
// floor(count * rank / size) .. floor(count * (rank + 1) / size). The shares cover [0, count) in
// rank order, without overlap, and differ in length by at most one. Exact for any count < 2^64.
// REQUIRES: 0 <= rank < size. Throws Error otherwise.
std::pair<std::uint64_t, std::uint64_t> cluster_slice(std::uint64_t count, int rank, int size);

// The byte format of what ranks exchange: an unsigned value as `bytes` (1..8) little-endian bytes
// at `at`, never a struct's bytes (padding is indeterminate); a double travels as its IEEE-754 bits
// (std::bit_cast), so every rank holds exactly the value the sending rank computed.
inline void put_le(std::byte* at, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i)
    at[i] = static_cast<std::byte>((value >> (8 * i)) & 0xffu);
}

inline std::uint64_t get_le(const std::byte* at, std::size_t bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes; ++i) value |= std::to_integer<std::uint64_t>(at[i]) << (8 * i);
  return value;
}

// Collective: every rank's bytes as one vector per rank (allgather of the lengths, then of the
// bytes).
std::vector<std::vector<std::byte>> allgather_parts(Cluster& cluster,
                                                    std::span<const std::byte> mine);

// A failure every rank of a cluster throws together, so that all exit with the same code and none
// waits in a collective for a rank that has left. The message is the lowest failing rank's,
// prefixed "rank R of N: " unless R is 0.
class ClusterFailure : public Error {
 public:
  ClusterFailure(const std::string& message, int failed_rank, bool input_error)
      : Error(message), failed_rank_(failed_rank), input_error_(input_error) {}
  int failed_rank() const { return failed_rank_; }
  // The failure was an InputError (bad input: exit code 2).
  bool input_error() const { return input_error_; }

 private:
  int failed_rank_;
  bool input_error_;
};

// Collective: call on every rank after a step, with the exception the step threw on this rank
// (null if none). Returns when no rank failed. Otherwise every rank throws the same
// ClusterFailure, from the lowest failing rank; in a cluster of one, `failure` itself is rethrown
// unchanged (so a single process behaves as if there were no cluster).
void agree_on_failure(Cluster& cluster, std::exception_ptr failure);

// Not collective: for a failure that every rank meets identically (a deterministic step on data
// every rank holds), the ClusterFailure agree_on_failure would have thrown, without
// communicating; in a cluster of one, `failure` itself. REQUIRES: failure is not null.
[[noreturn]] void fail_everywhere(const Cluster& cluster, std::exception_ptr failure);

}  // namespace vpgen
