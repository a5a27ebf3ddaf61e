// What the perf map and the jitdump reader share: code ranges written in order by a JIT, where a
// later record for the same start replaces the earlier (the JIT reused the address).
#ifndef PROFD_SYMBOLIZER_JIT_RANGES_H
#define PROFD_SYMBOLIZER_JIT_RANGES_H

#include <algorithm>
#include <cstdint>
#include <vector>

namespace profd::symbolizer_internal {

// `written` (each with .start and .end, in the order written) sorted by start, one per start:
// the one written last.
template <typename Range>
std::vector<Range> LatestByStart(std::vector<Range> written) {
  std::stable_sort(written.begin(), written.end(),
                   [](const Range& a, const Range& b) { return a.start < b.start; });
  std::vector<Range> latest;
  latest.reserve(written.size());
  for (Range& range : written) {
    if (!latest.empty() && latest.back().start == range.start)
      latest.back() = std::move(range);
    else
      latest.push_back(std::move(range));
  }
  return latest;
}

// The range of `sorted` (from LatestByStart) holding `address`, or null.
template <typename Range>
const Range* FindRange(const std::vector<Range>& sorted, uint64_t address) {
  auto it = std::upper_bound(sorted.begin(), sorted.end(), address,
                             [](uint64_t a, const Range& r) { return a < r.start; });
  if (it == sorted.begin()) return nullptr;
  --it;
  return address < it->end ? &*it : nullptr;
}

}  // namespace profd::symbolizer_internal

#endif  // PROFD_SYMBOLIZER_JIT_RANGES_H
