#include "vpgen/population/random_stream.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <boost/random/normal_distribution.hpp>
#include <doctest/doctest.h>

namespace vpgen {
namespace {

std::vector<std::uint64_t> first_outputs(Stream stream, int count) {
  std::vector<std::uint64_t> out;
  for (int i = 0; i < count; ++i) out.push_back(stream());
  return out;
}

// 13 outputs cross the 4-output Philox block boundary three times.
constexpr int kOutputs = 13;

TEST_CASE("a stream is a pure function of (seed, patient, arm, purpose)") {
  const auto a = first_outputs(Stream(7, 123, 2, Purpose::kCourse), kOutputs);
  const auto b = first_outputs(Stream(7, 123, 2, Purpose::kCourse), kOutputs);
  CHECK(a == b);
}

TEST_CASE("streams differing in any one of seed, patient, arm or purpose differ") {
  const auto base = first_outputs(Stream(7, 123, 2, Purpose::kCourse), kOutputs);
  CHECK(first_outputs(Stream(8, 123, 2, Purpose::kCourse), kOutputs) != base);
  CHECK(first_outputs(Stream(7, 124, 2, Purpose::kCourse), kOutputs) != base);
  CHECK(first_outputs(Stream(7, 123, 3, Purpose::kCourse), kOutputs) != base);
  CHECK(first_outputs(Stream(7, 123, kNoArm, Purpose::kCourse), kOutputs) != base);
  CHECK(first_outputs(Stream(7, 123, 2, Purpose::kToxicity), kOutputs) != base);
  CHECK(first_outputs(Stream(7, 123, 2, Purpose::kPopulation), kOutputs) != base);
  // Seed and patient form the key; swapping them must not give the same stream.
  CHECK(first_outputs(Stream(123, 7, 2, Purpose::kCourse), kOutputs) != base);
}

TEST_CASE("consecutive outputs of one stream are not repeated blocks") {
  const auto out = first_outputs(Stream(1, 1, kNoArm, Purpose::kPopulation), 8);
  CHECK(std::vector<std::uint64_t>(out.begin(), out.begin() + 4) !=
        std::vector<std::uint64_t>(out.begin() + 4, out.end()));
}

TEST_CASE("uniform_open lies strictly inside (0, 1) with mean 1/2") {
  Stream stream(2024, 5, kNoArm, Purpose::kPopulation);
  constexpr int kDraws = 1'000'000;
  double sum = 0.0;
  double smallest = 1.0, largest = 0.0;
  int outside = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double u = stream.uniform_open();
    outside += (u > 0.0 && u < 1.0) ? 0 : 1;
    sum += u;
    smallest = std::min(smallest, u);
    largest = std::max(largest, u);
  }
  // Var(U) = 1/12, so the Monte Carlo SE of the mean is sqrt(1/12 / n); allow 4 SE.
  CHECK(outside == 0);
  const double mean = sum / kDraws;
  CHECK(std::abs(mean - 0.5) < 4.0 * std::sqrt(1.0 / 12.0 / kDraws));
  // With 1e6 draws the extremes are within ~1e-5 of the ends (P(min > 2e-5) = e^-20).
  CHECK(smallest < 2e-5);
  CHECK(largest > 1.0 - 2e-5);
}

TEST_CASE("a stream drives boost::random::normal_distribution") {
  Stream stream(99, 0, kNoArm, Purpose::kPopulation);
  boost::random::normal_distribution<double> normal(0.0, 1.0);
  constexpr int kDraws = 200'000;
  double sum = 0.0, sum_sq = 0.0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = normal(stream);
    sum += x;
    sum_sq += x * x;
  }
  const double mean = sum / kDraws;
  const double variance = sum_sq / kDraws - mean * mean;
  // SE of the mean of N(0,1) is 1/sqrt(n); SE of the sample variance is sqrt(2/n). 4 SE each.
  CHECK(std::abs(mean) < 4.0 / std::sqrt(kDraws));
  CHECK(std::abs(variance - 1.0) < 4.0 * std::sqrt(2.0 / kDraws));

  // Same stream, same normals.
  Stream again(99, 0, kNoArm, Purpose::kPopulation);
  Stream twin(99, 0, kNoArm, Purpose::kPopulation);
  for (int i = 0; i < 100; ++i) CHECK(normal(again) == normal(twin));
}

}  // namespace
}  // namespace vpgen
