#include "compact_rows.h"

#include <algorithm>
#include <iterator>
#include <map>

namespace profd {

bool SameRule(const profd_unwind_row& a, const profd_unwind_row& b) {
  profd_unwind_row x = a;
  profd_unwind_row y = b;
  NormalizeRow(&x);
  NormalizeRow(&y);
  return x.cfa_type == y.cfa_type && x.cfa_offset == y.cfa_offset && x.rbp_type == y.rbp_type &&
         x.rbp_offset == y.rbp_offset;
}

void NormalizeRow(profd_unwind_row* row) {
  switch (row->cfa_type) {
    case PROFD_CFA_RSP:
    case PROFD_CFA_RBP:
    case PROFD_CFA_PLT:
      break;
    default:  // NONE, SIGNAL and END carry no offsets and no rbp rule
      row->cfa_offset = 0;
      row->rbp_type = PROFD_RBP_UNCHANGED;
      break;
  }
  if (row->rbp_type != PROFD_RBP_AT_CFA) row->rbp_offset = 0;
}

namespace {

// The part [start, end) of one FDE that it owns; its first row is the one in effect at start.
struct Segment {
  uint64_t start;
  uint64_t end;
  const FdeRows* fde;
};

// Disjoint covered intervals, start -> end; touching intervals are joined.
using Coverage = std::map<uint64_t, uint64_t>;

// Appends the parts of [start, end) not in `covered` to `out`, then adds [start, end) to it.
void ClaimUncovered(Coverage* covered, uint64_t start, uint64_t end, const FdeRows* fde,
                    std::vector<Segment>* out, bool* clipped) {
  auto it = covered->upper_bound(start);
  uint64_t cursor = start;
  if (it != covered->begin()) {
    auto prev = std::prev(it);
    if (prev->second > cursor) cursor = prev->second;
  }
  for (auto gap = it; cursor < end; ++gap) {
    uint64_t gap_end = (gap == covered->end() || gap->first >= end) ? end : gap->first;
    if (gap_end > cursor) out->push_back({cursor, gap_end, fde});
    if (gap_end == end) break;
    cursor = std::max(cursor, gap->second);
  }
  *clipped =
      out->empty() || out->front().start != start || out->back().end != end || out->size() > 1;

  // Join [start, end) with every interval it overlaps or touches.
  uint64_t new_start = start;
  uint64_t new_end = end;
  auto first = covered->upper_bound(start);
  if (first != covered->begin() && std::prev(first)->second >= start) --first;
  auto last = first;
  while (last != covered->end() && last->first <= end) {
    new_start = std::min(new_start, last->first);
    new_end = std::max(new_end, last->second);
    ++last;
  }
  covered->erase(first, last);
  covered->emplace(new_start, new_end);
}

void Append(std::vector<profd_unwind_row>* out, profd_unwind_row row) {
  NormalizeRow(&row);
  if (!out->empty()) {
    profd_unwind_row& last = out->back();
    if (last.pc == row.pc) {  // an empty range before: the later rule wins
      last = row;
      if (out->size() >= 2 && SameRule((*out)[out->size() - 2], last)) out->pop_back();
      return;
    }
    if (SameRule(last, row)) return;
  }
  out->push_back(row);
}

}  // namespace

std::vector<profd_unwind_row> CompactRows(const std::vector<FdeRows>& fdes, CompactStats* stats) {
  CompactStats local;
  if (stats == nullptr) stats = &local;
  *stats = {};

  std::vector<Segment> segments;
  segments.reserve(fdes.size());
  Coverage covered;
  std::vector<Segment> parts;
  for (const FdeRows& fde : fdes) {
    if (fde.start >= fde.end || fde.rows.empty()) {
      ++stats->fdes_dropped;
      continue;
    }
    parts.clear();
    bool clipped = false;
    ClaimUncovered(&covered, fde.start, fde.end, &fde, &parts, &clipped);
    if (parts.empty()) {
      ++stats->fdes_dropped;
      continue;
    }
    ++stats->fdes_used;
    if (clipped) ++stats->fdes_clipped;
    segments.insert(segments.end(), parts.begin(), parts.end());
  }
  std::sort(segments.begin(), segments.end(),
            [](const Segment& a, const Segment& b) { return a.start < b.start; });

  std::vector<profd_unwind_row> out;
  size_t total = 0;
  for (const FdeRows& fde : fdes) total += fde.rows.size();
  out.reserve(total + segments.size() + 1);

  bool have_end = false;
  uint64_t prev_end = 0;
  for (const Segment& seg : segments) {
    if (have_end && prev_end < seg.start) {
      profd_unwind_row none{};
      none.pc = prev_end;
      Append(&out, none);
    }
    const std::vector<profd_unwind_row>& rows = seg.fde->rows;
    // The row in effect at seg.start is the last one starting at or before it.
    auto it =
        std::upper_bound(rows.begin(), rows.end(), seg.start,
                         [](uint64_t pc, const profd_unwind_row& row) { return pc < row.pc; });
    if (it != rows.begin()) --it;
    profd_unwind_row first = *it;
    first.pc = seg.start;
    Append(&out, first);
    for (++it; it != rows.end() && it->pc < seg.end; ++it) Append(&out, *it);
    have_end = true;
    prev_end = seg.end;
  }
  if (have_end) {
    profd_unwind_row none{};
    none.pc = prev_end;
    Append(&out, none);
  }
  return out;
}

}  // namespace profd
