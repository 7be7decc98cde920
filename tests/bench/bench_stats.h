// Order statistics the benchmarks print: nearest rank, 0 for no samples.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace jobsched::bench {

// The upper middle sample.
inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The sample at rank floor(p * n), clamped to the largest.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace jobsched::bench
