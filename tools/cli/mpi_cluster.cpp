// The engine's Cluster over MPI_COMM_WORLD with the MPI C API. Compiled only with VPGEN_MPI.
// MPI's default error handler (MPI_ERRORS_ARE_FATAL) stays: a failing MPI call ends every rank
// rather than leaving some waiting in a collective.
#include "mpi_cluster.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <climits>
#include <cstdlib>

namespace vpgen::mpi {

namespace {

int to_count(std::size_t bytes, const char* what) {
  if (bytes > static_cast<std::size_t>(INT_MAX))
    throw Error(
        fmt::format("MPI {}: {} bytes, more than the {} one call can carry", what, bytes, INT_MAX));
  return static_cast<int>(bytes);
}

class MpiCluster final : public Cluster {
 public:
  MpiCluster() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  MpiCluster(const MpiCluster&) = delete;
  MpiCluster& operator=(const MpiCluster&) = delete;
  ~MpiCluster() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }

  std::vector<std::byte> allgather(std::span<const std::byte> mine) override {
    int count = to_count(mine.size(), "allgather");
    std::vector<int> counts(static_cast<std::size_t>(size_), 0);
    MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
    std::vector<int> offsets(counts.size(), 0);
    std::size_t total = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      offsets[r] = to_count(total, "allgather");
      total += static_cast<std::size_t>(counts[r]);
    }
    to_count(total, "allgather");
    // MPI wants valid buffers even for zero bytes.
    std::vector<std::byte> all(total == 0 ? 1 : total);
    std::byte dummy{};
    const void* send = mine.empty() ? &dummy : mine.data();
    MPI_Allgatherv(send, count, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE,
                   MPI_COMM_WORLD);
    all.resize(total);
    return all;
  }

  bool all_true(bool mine) override {
    int value = mine ? 1 : 0;
    MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return value != 0;
  }

  std::uint64_t broadcast_u64(std::uint64_t value_on_root) override {
    std::uint64_t value = value_on_root;
    MPI_Bcast(&value, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    return value;
  }

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

std::unique_ptr<Cluster> start(int& argc, char**& argv) {
  if (!launched_by_launcher() && !requested(argc, argv)) return std::make_unique<LocalCluster>();
  // Only the main thread calls MPI; TBB's workers never do.
  int provided = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw Error("MPI_Init_thread failed");
  auto cluster = std::make_unique<MpiCluster>();
  if (provided < MPI_THREAD_FUNNELED)
    throw Error(
        fmt::format("the MPI library gives thread level {}, vpgen needs "
                    "MPI_THREAD_FUNNELED ({})",
                    provided, MPI_THREAD_FUNNELED));
  return cluster;
}

void abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this only satisfies [[noreturn]]
}

}  // namespace vpgen::mpi
