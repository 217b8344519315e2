#include "vpgen/engine/cluster.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>

namespace vpgen {

namespace {

// How a failure crosses ranks: one flag byte (its class, enough to choose the exit code, and
// whether it is already a ClusterFailure), then its message.
constexpr std::uint8_t kFailed = 1, kInputFlag = 2, kAgreedFlag = 4;

struct Decoded {
  bool input_error = false;
  bool already_agreed = false;  // a ClusterFailure: its message is already prefixed
  std::string message;
};

Decoded describe(std::exception_ptr failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const ClusterFailure& e) {
    return {e.input_error(), true, e.what()};
  } catch (const InputError& e) {
    return {true, false, e.what()};
  } catch (const std::exception& e) {
    return {false, false, e.what()};
  } catch (...) {
    return {false, false, "unknown exception"};
  }
}

std::vector<std::byte> encode(const Decoded& d) {
  std::vector<std::byte> bytes(1 + d.message.size());
  bytes[0] = static_cast<std::byte>(kFailed | (d.input_error ? kInputFlag : 0) |
                                    (d.already_agreed ? kAgreedFlag : 0));
  std::memcpy(bytes.data() + 1, d.message.data(), d.message.size());
  return bytes;
}

std::string prefixed(const std::string& message, int rank, int size, bool already_agreed) {
  if (rank == 0 || already_agreed) return message;
  return fmt::format("rank {} of {}: {}", rank, size, message);
}

}  // namespace

Cluster& local_cluster() {
  static LocalCluster cluster;
  return cluster;
}

std::pair<std::uint64_t, std::uint64_t> cluster_slice(std::uint64_t count, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw Error(fmt::format("cluster_slice: rank {} of {} is not a rank", rank, size));
  // floor(count * r / size) without overflowing count * r: count = q size + m with m < size, so
  // count * r / size = q r + m r / size, and m r < size^2 <= 2^62.
  const auto s = static_cast<std::uint64_t>(size);
  const std::uint64_t q = count / s, m = count % s;
  auto start = [&](std::uint64_t r) { return q * r + m * r / s; };
  const auto r = static_cast<std::uint64_t>(rank);
  return {start(r), start(r + 1)};
}

std::vector<std::vector<std::byte>> allgather_parts(Cluster& cluster,
                                                    std::span<const std::byte> mine) {
  // Lengths as 8 little-endian bytes each, so the concatenation splits evenly.
  std::array<std::byte, 8> length{};
  put_le(length.data(), mine.size(), length.size());
  const std::vector<std::byte> lengths = cluster.allgather(length);
  const auto ranks = static_cast<std::size_t>(cluster.size());
  if (lengths.size() != 8 * ranks)
    throw Error(
        fmt::format("allgather_parts: {} length bytes from {} ranks", lengths.size(), ranks));
  std::vector<std::uint64_t> sizes(ranks, 0);
  std::uint64_t total = 0;
  for (std::size_t r = 0; r < ranks; ++r) {
    sizes[r] = get_le(lengths.data() + 8 * r, 8);
    total += sizes[r];
  }
  const std::vector<std::byte> all = cluster.allgather(mine);
  if (all.size() != total)
    throw Error(
        fmt::format("allgather_parts: {} bytes where the ranks announced {}", all.size(), total));
  std::vector<std::vector<std::byte>> parts(ranks);
  std::size_t at = 0;
  for (std::size_t r = 0; r < ranks; ++r) {
    const auto length_r = static_cast<std::size_t>(sizes[r]);
    parts[r].assign(all.begin() + static_cast<std::ptrdiff_t>(at),
                    all.begin() + static_cast<std::ptrdiff_t>(at + length_r));
    at += length_r;
  }
  return parts;
}

void agree_on_failure(Cluster& cluster, std::exception_ptr failure) {
  if (cluster.size() == 1) {
    if (failure) std::rethrow_exception(failure);
    return;
  }
  // The common case costs one small reduction; messages travel only when a rank failed.
  if (cluster.all_true(failure == nullptr)) return;
  std::vector<std::byte> mine;
  if (failure) mine = encode(describe(failure));
  const std::vector<std::vector<std::byte>> parts = allgather_parts(cluster, mine);
  for (std::size_t r = 0; r < parts.size(); ++r) {
    if (parts[r].empty()) continue;
    const auto flags = std::to_integer<std::uint8_t>(parts[r][0]);
    const bool input = (flags & kInputFlag) != 0;
    // An agreed failure is already named after the rank it came from.
    const bool agreed = (flags & kAgreedFlag) != 0;
    std::string message(parts[r].size() - 1, '\0');
    std::memcpy(message.data(), parts[r].data() + 1, message.size());
    const int rank = static_cast<int>(r);
    throw ClusterFailure(prefixed(message, rank, cluster.size(), agreed), rank, input);
  }
  throw Error("agree_on_failure: a rank failed but sent no message");
}

void fail_everywhere(const Cluster& cluster, std::exception_ptr failure) {
  if (cluster.size() == 1) std::rethrow_exception(failure);
  const Decoded d = describe(failure);
  throw ClusterFailure(d.message, 0, d.input_error);
}

}  // namespace vpgen
