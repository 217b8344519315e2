// A Cluster of N ranks that are threads of one test process, for testing code written against
// vpgen::Cluster without MPI: run_ranks(N, body) calls body(cluster_of_rank) on N threads and
// rethrows the first rank's exception. Collectives meet at a shared barrier; a rank that leaves
// early while others wait makes them wait forever, as under MPI (tests must not do that).
#pragma once

#include "vpgen/engine/cluster.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vpgen::testing {

class SharedRoom {
 public:
  explicit SharedRoom(int size) : size_(size), slots_(static_cast<std::size_t>(size)) {}
  int size() const { return size_; }

  // Every rank deposits its bytes; once all have, every rank reads all slots in rank order.
  std::vector<std::byte> exchange(int rank, std::span<const std::byte> mine) {
    slots_[static_cast<std::size_t>(rank)].assign(mine.begin(), mine.end());
    wait_for_all();
    std::vector<std::byte> all;
    for (const std::vector<std::byte>& s : slots_) all.insert(all.end(), s.begin(), s.end());
    wait_for_all();  // nobody deposits the next round before everybody has read this one
    return all;
  }

  void wait_for_all() {
    std::unique_lock lock(mutex_);
    const std::uint64_t generation = generation_;
    if (++arrived_ == size_) {
      arrived_ = 0;
      ++generation_;
      all_arrived_.notify_all();
      return;
    }
    all_arrived_.wait(lock, [&] { return generation_ != generation; });
  }

 private:
  int size_;
  std::vector<std::vector<std::byte>> slots_;
  std::mutex mutex_;
  std::condition_variable all_arrived_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
};

class ThreadCluster final : public Cluster {
 public:
  ThreadCluster(SharedRoom& room, int rank) : room_(room), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return room_.size(); }
  void barrier() override { room_.wait_for_all(); }
  std::vector<std::byte> allgather(std::span<const std::byte> mine) override {
    std::vector<std::byte> all = room_.exchange(rank_, mine);
    bytes_sent_ += mine.size();
    bytes_received_ += all.size();
    return all;
  }
  bool all_true(bool mine) override {
    const std::byte b{static_cast<unsigned char>(mine ? 1 : 0)};
    for (const std::byte x : room_.exchange(rank_, std::span<const std::byte>(&b, 1)))
      if (x == std::byte{0}) return false;
    return true;
  }
  // Totals over this rank's allgather calls: what it contributed, what it received.
  std::uint64_t bytes_sent() const { return bytes_sent_; }
  std::uint64_t bytes_received() const { return bytes_received_; }

  std::uint64_t broadcast_u64(std::uint64_t value_on_root) override {
    std::vector<std::byte> mine(8);
    for (std::size_t i = 0; i < 8; ++i)
      mine[i] = static_cast<std::byte>((value_on_root >> (8 * i)) & 0xffu);
    const std::vector<std::byte> all = room_.exchange(rank_, mine);
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < 8; ++i) value |= std::to_integer<std::uint64_t>(all[i]) << (8 * i);
    return value;
  }

 private:
  SharedRoom& room_;
  int rank_;
  std::uint64_t bytes_sent_ = 0, bytes_received_ = 0;
};

// Runs body(cluster) on `size` threads, one rank each; rethrows the lowest rank's exception.
inline void run_ranks(int size, const std::function<void(ThreadCluster&)>& body) {
  SharedRoom room(size);
  std::vector<std::exception_ptr> failures(static_cast<std::size_t>(size));
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      ThreadCluster cluster(room, r);
      try {
        body(cluster);
      } catch (...) {
        failures[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& f : failures)
    if (f) std::rethrow_exception(f);
}

}  // namespace vpgen::testing
