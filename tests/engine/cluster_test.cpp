// The engine's Cluster seam: cluster_slice shares a range out exactly, LocalCluster is one rank
// that returns its own data, and agree_on_failure turns one rank's failure into the same
// ClusterFailure on every rank (checked on ranks that are threads: tests/support/thread_cluster.hpp).
#include "support/thread_cluster.hpp"
#include "vpgen/engine/cluster.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using vpgen::Cluster;
using vpgen::ClusterFailure;

std::vector<std::byte> bytes_of(const std::string& text) {
  std::vector<std::byte> out;
  for (const char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

std::string text_of(const std::vector<std::byte>& bytes) {
  std::string out;
  for (const std::byte b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

}  // namespace

TEST_CASE("cluster_slice covers the range in rank order without overlap, shares differing by one") {
  for (const std::uint64_t count : {0ull, 1ull, 2ull, 7ull, 1000ull, 1001ull, 99991ull}) {
    for (int size = 1; size <= 9; ++size) {
      std::uint64_t next = 0, shortest = count, longest = 0;
      for (int rank = 0; rank < size; ++rank) {
        const auto [begin, end] = vpgen::cluster_slice(count, rank, size);
        CHECK(begin == next);
        CHECK(end >= begin);
        // The stated formula: floor(count * rank / size) (small enough here not to overflow).
        CHECK(begin == count * static_cast<std::uint64_t>(rank) / static_cast<std::uint64_t>(size));
        shortest = std::min(shortest, end - begin);
        longest = std::max(longest, end - begin);
        next = end;
      }
      CHECK(next == count);
      CHECK(longest - shortest <= 1);
    }
  }
}

TEST_CASE("cluster_slice is exact where count times rank overflows 64 bits") {
  const std::uint64_t count = std::numeric_limits<std::uint64_t>::max();  // 3 * 5 * 17 * ... - 1
  const auto [b1, e1] = vpgen::cluster_slice(count, 1, 3);
  CHECK(b1 == count / 3);  // 2^64 - 1 is divisible by 3
  CHECK(e1 == count / 3 * 2);
  const auto [b2, e2] = vpgen::cluster_slice(count, 2, 3);
  CHECK(b2 == e1);
  CHECK(e2 == count);
  // 1000 ranks: 2^64 - 1 = 18446744073709551 * 1000 + 615, so rank 999 starts at
  // 18446744073709551 * 999 + floor(615 * 999 / 1000) = ... + 614.
  const auto [b999, e999] = vpgen::cluster_slice(count, 999, 1000);
  CHECK(b999 == 18446744073709551ull * 999 + 614);
  CHECK(e999 == count);
}

TEST_CASE("cluster_slice rejects a rank outside the cluster") {
  CHECK_THROWS_AS(vpgen::cluster_slice(10, 3, 3), vpgen::Error);
  CHECK_THROWS_AS(vpgen::cluster_slice(10, -1, 3), vpgen::Error);
  CHECK_THROWS_AS(vpgen::cluster_slice(10, 0, 0), vpgen::Error);
}

TEST_CASE("a LocalCluster is rank 0 of 1 and every collective returns its own data") {
  vpgen::LocalCluster local;
  Cluster& c = local;
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  c.barrier();
  CHECK(text_of(c.allgather(bytes_of("abc"))) == "abc");
  CHECK(c.allgather({}).empty());
  CHECK(c.all_true(true));
  CHECK_FALSE(c.all_true(false));
  CHECK(c.broadcast_u64(0x0123456789abcdefull) == 0x0123456789abcdefull);
  const auto parts = vpgen::allgather_parts(c, bytes_of("xy"));
  REQUIRE(parts.size() == 1);
  CHECK(text_of(parts[0]) == "xy");
  CHECK(&vpgen::local_cluster() == &vpgen::local_cluster());
  CHECK(vpgen::local_cluster().size() == 1);
}

TEST_CASE("with one process agree_on_failure rethrows the failure itself, unchanged") {
  vpgen::LocalCluster local;
  CHECK_NOTHROW(vpgen::agree_on_failure(local, nullptr));
  CHECK_THROWS_AS(
      vpgen::agree_on_failure(local, std::make_exception_ptr(vpgen::InputError("bad key"))),
      vpgen::InputError);
  CHECK_THROWS_WITH_AS(
      vpgen::fail_everywhere(local, std::make_exception_ptr(std::runtime_error("boom"))), "boom",
      std::runtime_error);
}

TEST_CASE("collectives of ranks that are threads gather in rank order and agree") {
  vpgen::testing::run_ranks(3, [](Cluster& c) {
    const std::string mine(static_cast<std::size_t>(c.rank()), static_cast<char>('a' + c.rank()));
    CHECK(text_of(c.allgather(bytes_of(mine))) == "bcc");
    const auto parts = vpgen::allgather_parts(c, bytes_of(mine));
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].empty());
    CHECK(text_of(parts[2]) == "cc");
    CHECK(c.all_true(true));
    CHECK_FALSE(c.all_true(c.rank() != 1));
    CHECK(c.broadcast_u64(c.rank() == 0 ? 42u : 7u) == 42u);
    c.barrier();
  });
}

TEST_CASE("a failure on one rank is thrown on every rank as the same ClusterFailure") {
  std::mutex mutex;
  std::vector<std::string> messages;
  std::atomic<int> input_errors = 0, failed_rank_sum = 0;
  vpgen::testing::run_ranks(3, [&](Cluster& c) {
    CHECK_NOTHROW(vpgen::agree_on_failure(c, nullptr));  // nobody failed: returns everywhere
    std::exception_ptr failure;
    if (c.rank() == 2) failure = std::make_exception_ptr(vpgen::InputError("design.toml:3: bad"));
    if (c.rank() == 1) failure = std::make_exception_ptr(std::runtime_error("out of memory"));
    try {
      vpgen::agree_on_failure(c, failure);
      FAIL("agree_on_failure returned although ranks 1 and 2 failed");
    } catch (const ClusterFailure& e) {
      const std::lock_guard lock(mutex);
      messages.emplace_back(e.what());
      input_errors += e.input_error();
      failed_rank_sum += e.failed_rank();
    }
  });
  // The lowest failing rank (1) wins, named in the message, with its class (not an InputError).
  REQUIRE(messages.size() == 3);
  for (const std::string& m : messages) CHECK(m == "rank 1 of 3: out of memory");
  CHECK(input_errors == 0);
  CHECK(failed_rank_sum == 3);
}

TEST_CASE("an input error on rank 0 reaches every rank unprefixed and still an input error") {
  std::atomic<int> agreed = 0;
  vpgen::testing::run_ranks(2, [&](Cluster& c) {
    std::exception_ptr failure;
    if (c.rank() == 0) failure = std::make_exception_ptr(vpgen::InputError("no such file"));
    try {
      vpgen::agree_on_failure(c, failure);
    } catch (const ClusterFailure& e) {
      CHECK(std::string(e.what()) == "no such file");
      CHECK(e.input_error());
      ++agreed;
    }
    // An agreed failure passed through a second agreement keeps its message.
    try {
      vpgen::agree_on_failure(c,
                              std::make_exception_ptr(ClusterFailure("rank 1 of 2: x", 1, true)));
    } catch (const ClusterFailure& e) {
      CHECK(std::string(e.what()) == "rank 1 of 2: x");
      ++agreed;
    }
    // fail_everywhere does not communicate: each rank throws on its own.
    try {
      vpgen::fail_everywhere(c, std::make_exception_ptr(vpgen::SimulationError("replicate 7")));
    } catch (const ClusterFailure& e) {
      CHECK(std::string(e.what()) == "replicate 7");
      CHECK_FALSE(e.input_error());
      ++agreed;
    }
  });
  CHECK(agreed == 6);
}
