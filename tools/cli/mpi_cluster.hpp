// MPI for the `vpgen` executable: the Cluster of the engine (cluster.hpp) over the MPI C API.
// The launcher checks below are always available; start() and abort() exist only in a build with
// VPGEN_HAVE_MPI (cmake -DVPGEN_MPI=ON), the only one that links MPI. Call everything from the
// main thread (MPI_THREAD_FUNNELED): worker threads never touch MPI.
#pragma once

#include "vpgen/engine/cluster.hpp"

#include <cstdlib>
#include <memory>
#include <string_view>

namespace vpgen::mpi {

inline constexpr std::string_view kWithoutMpiMessage =
    "vpgen was built without MPI (cmake -DVPGEN_MPI=ON needs libopenmpi-dev)";

// `--mpi` among the arguments (before a lone "--").
inline bool requested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") return false;
    if (arg == "--mpi") return true;
  }
  return false;
}

// The process was started by an MPI launcher: Open MPI's mpirun (OMPI_COMM_WORLD_SIZE), a PMIx
// launcher such as srun --mpi=pmix (PMIX_RANK), MPICH's Hydra or Intel MPI (PMI_SIZE, PMI_RANK),
// MVAPICH (MV2_COMM_WORLD_SIZE). Slurm's own SLURM_PROCID is not a sign: a plain job array sets
// it too.
inline bool launched_by_launcher() {
  for (const char* name :
       {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK", "MV2_COMM_WORLD_SIZE"})
    if (std::getenv(name) != nullptr) return true;
  return false;
}

#ifdef VPGEN_HAVE_MPI
// The cluster this process belongs to. Calls MPI_Init_thread (which may remove MPI's own
// arguments from argc/argv) when the process was launched by an MPI launcher or `--mpi` is given
// (a singleton run of size 1 without a launcher); otherwise returns a LocalCluster and MPI is never
// initialised. The returned object calls MPI_Finalize when destroyed: keep it alive until main
// returns. Throws Error when MPI cannot start.
std::unique_ptr<Cluster> start(int& argc, char**& argv);

// Ends every rank now with `exit_code` (MPI_Abort): for a failure on one rank while the others may
// be waiting for it in a collective. Never returns.
[[noreturn]] void abort(int exit_code);
#endif

}  // namespace vpgen::mpi
