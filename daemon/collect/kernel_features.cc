#include "collect/kernel_features.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <mutex>

#include "base/unique_fd.h"
#include "collect/bpf_support.h"
#include "collect/heap/allocator_probes.h"
#include "collect/heap/session_probes.h"

namespace profd {
namespace {

bool HasHelpers() {
  for (bpf_func_id helper : {BPF_FUNC_loop, BPF_FUNC_task_pt_regs, BPF_FUNC_get_current_task_btf})
    if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, helper, nullptr) != 1) return false;
  return true;
}

bool HasCpuClock() {
  UniqueFd fd(OpenSoftwarePerfEvent(PERF_COUNT_SW_CPU_CLOCK, 10000000, /*pid=*/0, /*cpu=*/-1,
                                    /*inherit=*/false));
  return fd.valid();
}

// A session program that does nothing, linked for a moment to profd's own free(): what the heap
// collector does, so its answer is the kernel's own (before 6.13 the link is refused).
bool HasUprobeSessions() {
  std::string libc, error;
  uint64_t offset;
  if (!FindOwnFree(&libc, &offset, &error)) return false;
  const bpf_insn return_zero[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts,
              .expected_attach_type = static_cast<bpf_attach_type>(kBpfTraceUprobeSession));
  UniqueFd program(bpf_prog_load(BPF_PROG_TYPE_KPROBE, "profd_probe", "GPL", return_zero, 2, &opts));
  if (!program.valid()) return false;
  UniqueFd link = AttachSessionProbes(program.get(), libc, {offset}, {}, getpid());
  return link.valid();
}

struct Feature {
  KernelFeature bit;
  const char* what;
  const char* since;  // the Linux release it came in
  bool (*probe)();
};
constexpr Feature kFeatures[] = {
    {kFeatureStackWalk, "the BPF helpers that walk stacks (bpf_loop, bpf_task_pt_regs)", "5.17",
     HasHelpers},
    {kFeatureCpuClock, "software CPU-clock perf events", "2.6.31", HasCpuClock},
    {kFeatureRawTracepoints, "raw tracepoint programs", "4.17",
     [] { return libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, nullptr) == 1; }},
    {kFeatureRingBuffer, "BPF ring buffers", "5.8",
     [] { return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1; }},
    {kFeatureTaskStorage, "task-local storage maps", "5.11",
     [] { return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr) == 1; }},
    {kFeatureUprobeSessions, "uprobe session links (BPF_TRACE_UPROBE_SESSION)", "6.13",
     HasUprobeSessions},
};

}  // namespace

std::string DescribeMissingFeatures(uint32_t missing, const std::string& release) {
  std::string list;
  for (const Feature& f : kFeatures) {
    if (!(missing & f.bit)) continue;
    list += (list.empty() ? "" : "; ") + std::string(f.what) + " (Linux " + f.since + ")";
  }
  if (list.empty()) return "";
  return "this kernel (" + release + ") lacks " + list;
}

std::string MissingKernelFeatures(uint32_t needed) {
  // Only what is there is remembered: a probe that failed for a passing reason (no memory for its
  // map) must not switch a type off for the daemon's lifetime.
  static std::mutex mutex;
  static uint32_t present = 0;
  uint32_t missing = 0;
  {
    std::lock_guard<std::mutex> lock(mutex);
    for (const Feature& f : kFeatures) {
      if (!(needed & f.bit) || (present & f.bit)) continue;
      if (f.probe())
        present |= f.bit;
      else
        missing |= f.bit;
    }
  }
  if (!missing) return "";
  utsname u = {};
  uname(&u);
  return DescribeMissingFeatures(missing, u.release);
}

}  // namespace profd
