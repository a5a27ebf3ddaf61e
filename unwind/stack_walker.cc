#include "stack_walker.h"

#include "unwind_step.h"

// What the hooks of unwind_step.h work on in user space.
struct profd_unwind_env {
  const profd_process_unwind* process;
  const std::vector<std::vector<profd_unwind_row>>* tables;
  const profd::StackWalker::ReadMemory* read;
  uint64_t* counts;
  profd_search_bounds bounds;
};

static __always_inline long profd_unwind_read(profd_unwind_env* env, void* dst, __u32 size,
                                              __u64 address) {
  return (*env->read)(address, dst, size) ? 0 : -1;
}

static __always_inline const void* profd_unwind_table(profd_unwind_env* env,
                                                      const __u64* table_id) {
  const uint64_t id = *table_id;
  return id >= 1 && id <= env->tables->size() ? &(*env->tables)[id - 1] : nullptr;
}

static __always_inline const profd_unwind_row* profd_unwind_row_at(profd_unwind_env* env,
                                                                   const void* rows,
                                                                   const __u32* index) {
  const auto& table = *static_cast<const std::vector<profd_unwind_row>*>(rows);
  return *index < table.size() ? &table[*index] : nullptr;
}

static __always_inline profd_search_bounds* profd_unwind_bounds(profd_unwind_env* env) {
  return &env->bounds;
}

static __always_inline void profd_unwind_count(profd_unwind_env* env, __u32 counter) {
  if (counter < PROFD_COUNTER_MAX) env->counts[counter]++;
}

static __always_inline const profd_process_unwind* profd_unwind_process(profd_unwind_env* env,
                                                                        const __u32*) {
  return env->process;
}

// No row cache here: a thread dump walks each stack once.
static __always_inline bool profd_unwind_cached_row(profd_unwind_env*, const profd_unwind_state*,
                                                    profd_unwind_row*) {
  return false;
}

static __always_inline void profd_unwind_remember_row(profd_unwind_env*, const profd_unwind_state*,
                                                      const profd_unwind_row*) {}

namespace profd {

uint64_t StackWalker::AddTable(std::vector<profd_unwind_row> rows) {
  tables_.push_back(std::move(rows));
  return tables_.size();
}

std::vector<uint64_t> StackWalker::Walk(const profd_process_unwind& process, uint64_t ip,
                                        uint64_t sp, uint64_t bp, const ReadMemory& read,
                                        bool* truncated) {
  profd_unwind_env env = {&process, &tables_, &read, counts_.data(), {}};
  profd_unwind_state s = {};
  s.ip = ip;
  s.sp = sp;
  s.bp = bp;
  s.exact_ip = 1;
  std::vector<uint64_t> ips;
  *truncated = false;
  // As the BPF loop: record the frame, then step to its caller.
  do {
    if (ips.size() == PROFD_MAX_FRAMES) {
      *truncated = true;
      break;
    }
    ips.push_back(s.ip);
  } while (profd_unwind_next(&env, &s));
  return ips;
}

}  // namespace profd
