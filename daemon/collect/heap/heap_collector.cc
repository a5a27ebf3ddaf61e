#include "collect/heap/heap_collector.h"

#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dlfcn.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <iterator>
#include <mutex>
#include <tuple>

#include "base/log.h"
#include "collect/bpf_maps.h"
#include "collect/bpf_support.h"
#include "heap.skel.h"
#include "process/proc_files.h"

namespace profd {
namespace {

// The user-time meter's tick: 1 ms of a thread's user-mode run time.
constexpr uint64_t kUserTickNanos = 1000000;
// The largest standard error of the duty-cycle scale called trustworthy (100 ticks attached).
constexpr double kTrustedScaleError = 0.1;
// The fewest attached windows in which the targets worked that can tell how their allocation rate
// varies between windows (below it the error estimate itself is not to be trusted).
constexpr size_t kTrustedWindows = 10;

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The cookie telling heap.bpf.c which function a probe is on.
uint64_t FunctionCookie(const std::string& name) {
  if (name == "malloc") return PROFD_HEAP_MALLOC;
  if (name == "calloc") return PROFD_HEAP_CALLOC;
  if (name == "realloc") return PROFD_HEAP_REALLOC;
  if (name == "reallocarray") return PROFD_HEAP_REALLOCARRAY;
  if (name == "posix_memalign") return PROFD_HEAP_POSIX_MEMALIGN;
  if (name == "aligned_alloc" || name == "memalign") return PROFD_HEAP_ALIGNED_ALLOC;
  if (name == "valloc" || name == "pvalloc") return PROFD_HEAP_VALLOC;
  if (name.rfind("_Zn", 0) == 0) return PROFD_HEAP_MALLOC;  // operator new: the size first
  return PROFD_HEAP_FREE;                                   // free, operator delete
}

// BPF_LINK_CREATE's attributes for uprobe_multi links (Linux 6.6; session mode 6.13), which
// Debian 12's linux/bpf.h and libbpf 1.1 predate: the kernel's layout, fixed by its ABI.
constexpr uint32_t kBpfTraceUprobeSession = 57;
struct UprobeMultiLinkAttr {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t ref_ctr_offsets;
  uint64_t cookies;
  uint32_t count;
  uint32_t multi_flags;
  uint32_t pid;
  uint32_t reserved;
};
static_assert(sizeof(UprobeMultiLinkAttr) == 64);

// One link putting `program` on every offset of `path` for process `pid` (-1: every process). All
// its breakpoints go at once when the fd is closed, with a single wait for running handlers.
UniqueFd AttachSessionProbes(bpf_program* program, const std::string& path,
                             const std::vector<uint64_t>& offsets,
                             const std::vector<uint64_t>& cookies, pid_t pid) {
  UprobeMultiLinkAttr attr = {};
  attr.prog_fd = static_cast<uint32_t>(bpf_program__fd(program));
  attr.attach_type = kBpfTraceUprobeSession;
  attr.path = reinterpret_cast<uint64_t>(path.c_str());
  attr.offsets = reinterpret_cast<uint64_t>(offsets.data());
  attr.cookies = cookies.empty() ? 0 : reinterpret_cast<uint64_t>(cookies.data());
  attr.count = static_cast<uint32_t>(offsets.size());
  attr.pid = static_cast<uint32_t>(pid);
  return UniqueFd(static_cast<int>(syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr))));
}

std::string DescribeAttachError(const std::string& what, int err) {
  if (err == EINVAL || err == EOPNOTSUPP)
    return what + ": the kernel rejected a uprobe session link (" + std::strerror(err) +
           "); heap and allocs profiles need Linux 6.13 or later";
  return DescribeBpfError(what, err);
}

// free(), called through a pointer the compiler cannot see through (it drops free(nullptr)).
void (*volatile g_free)(void*) = free;

// Seconds per free(nullptr), the median of five runs of `calls` calls.
double SecondsPerFree(int calls) {
  std::vector<double> runs;
  for (int run = 0; run < 5; run++) {
    const double start = SteadySeconds();
    for (int i = 0; i < calls; i++) g_free(nullptr);
    runs.push_back((SteadySeconds() - start) / calls);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

// Measures an entry probe, and an entry with its return probe, on profd's own glibc free(): the
// same code, and so the same trap (an instruction emulated or stepped out of line), as most
// targets' allocators. profd is no target, so the program returns at the filter: what is measured
// is what every hit costs a target before BPF does anything.
bool MeasureProbeCost(heap_bpf* skel, HeapCollector::ProbeCost* cost, std::string* error) {
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(free), &info) || !info.dli_fname) {
    *error = "cannot find profd's own C library";
    return false;
  }
  const std::map<std::string, AllocatorFunction> functions = FindAllocatorFunctions(info.dli_fname);
  if (!functions.count("free")) {
    *error = std::string("cannot find free() in ") + info.dli_fname;
    return false;
  }
  const uint64_t offset = functions.at("free").offset;
  const double bare = SecondsPerFree(20000);
  double with[2];
  for (int with_return = 0; with_return < 2; with_return++) {
    skel->bss->calibrate_return = with_return;
    UniqueFd link =
        AttachSessionProbes(skel->progs.profd_calibrate, info.dli_fname, {offset}, {}, getpid());
    if (!link.valid()) {
      *error = DescribeAttachError("cannot attach a uprobe", errno);
      return false;
    }
    SecondsPerFree(20);  // the first hits map the probe's trampoline page
    with[with_return] = SecondsPerFree(300);
  }
  cost->entry_seconds = std::max(0.0, with[0] - bare);
  cost->return_seconds = std::max(0.0, with[1] - with[0]);
  return true;
}

// MeasureProbeCost once per 10 minutes for the whole process: the daemon serves many heap requests,
// and concurrent measurements would also count each other's traps.
bool ProbeCostMeasuredLately(heap_bpf* skel, HeapCollector::ProbeCost* cost, std::string* error) {
  static std::mutex mutex;
  static HeapCollector::ProbeCost last;
  static double measured_at = -1;
  std::lock_guard<std::mutex> lock(mutex);
  const double now = SteadySeconds();
  if (measured_at < 0 || now - measured_at > 600) {
    if (!MeasureProbeCost(skel, &last, error)) return false;
    measured_at = now;
  }
  *cost = last;
  return true;
}

// Reads every entry of the live-blocks map in batches (a million entries one by one would take
// seconds of syscalls).
std::vector<profd_live_block> ReadLiveBlocks(int fd) {
  std::vector<profd_live_block> blocks;
  constexpr uint32_t kBatch = 4096;
  std::vector<profd_live_block_key> keys(kBatch);
  std::vector<profd_live_block> values(kBatch);
  profd_live_block_key out_batch;
  bool first = true;
  profd_live_block_key in_batch;
  while (true) {
    uint32_t count = kBatch;
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(),
                                   values.data(), &count, nullptr);
    blocks.insert(blocks.end(), values.begin(), values.begin() + count);
    if (err) break;  // ENOENT: the end
    in_batch = out_batch;
    first = false;
  }
  return blocks;
}

}  // namespace

double SampleBytesWeight(double x) { return x < 1e-9 ? 1 + x / 2 : x / -std::expm1(-x); }

namespace {

// True when `file` (as a process maps it) is the file at `path` (same device and inode).
bool IsFile(const MappedFile& file, const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && st.st_dev == file.dev && st.st_ino == file.inode;
}

// The preload sampler's mapping in `process` when it is the allocator the process calls.
const Mapping* PreloadSampler(const ProcessInfo& process, const std::string& library) {
  if (library.empty()) return nullptr;
  if (const Mapping* main = process.MainMapping(); main && main->file) {
    const auto own = FindAllocatorFunctions(main->file->open_path());
    if (own.count("malloc") && own.count("free")) return nullptr;
  }
  for (const Mapping& m : process.mappings)
    if (m.file && IsFile(*m.file, library)) return &m;
  return nullptr;
}

}  // namespace

std::unique_ptr<HeapCollector> HeapCollector::Load(const Options& options,
                                                   const ProcessTable& processes,
                                                   std::string* error) {
  std::unique_ptr<HeapCollector> collector(new HeapCollector());
  collector->options_ = options;
  for (pid_t pid : options.pids) {
    const ProcessInfo* process = processes.Find(pid);
    if (!process) {
      *error = "pid " + std::to_string(pid) + " exited before its allocator could be found";
      return nullptr;
    }
    Target target;
    target.pid = pid;
    // The program calls the preload sampler's malloc, unless its executable defines its own (the
    // loader binds the executable's first, then LD_PRELOAD's): the sampler's labels are probed.
    if (const Mapping* sampler = PreloadSampler(*process, options.preload_library)) {
      target.preload = true;
      target.file = sampler->file;
      target.path = sampler->path;
      target.functions = FindPreloadPoints(target.file->open_path());
      if (target.functions.empty()) {
        *error = options.preload_library + " has no profd_preload_* labels";
        return nullptr;
      }
    } else {
      Allocator allocator;
      if (!FindAllocator(*process, &allocator, error)) return nullptr;
      target.file = allocator.mapping->file;
      target.path = allocator.mapping->path;
      target.functions = std::move(allocator.functions);
    }
    collector->targets_.push_back(std::move(target));
  }
  collector->preload_ = std::all_of(collector->targets_.begin(), collector->targets_.end(),
                                    [](const Target& t) { return t.preload; });
  collector->rate_in_force_ = options.sample_rate;
  auto configure = [&options](heap_bpf* skel) {
    Configure(options, skel->rodata);
    skel->rodata->track_peak = options.track_peak;
    skel->data->sample_rate = options.sample_rate;
    for (int i = 0; i < PROFD_EXP_TABLE_SIZE; i++) {
      const double u = (i + 0.5) / PROFD_EXP_TABLE_SIZE;
      skel->rodata->exp_table[i] = static_cast<uint32_t>(std::lround(-std::log(u) * 65536));
    }
    for (int i = 0; i < PROFD_SIZE_WEIGHT_TABLE_SIZE; i++)
      skel->rodata->size_weight[i] = static_cast<uint32_t>(std::lround(
          SampleBytesWeight(static_cast<double>(i) / PROFD_SIZE_WEIGHT_STEPS) * 65536));
    // libbpf 1.1 predates uprobe session programs: their type is set here.
    for (bpf_program* program : {skel->progs.profd_heap_call, skel->progs.profd_calibrate,
                                 skel->progs.profd_preload_sampled,
                                 skel->progs.profd_preload_freed}) {
      bpf_program__set_type(program, BPF_PROG_TYPE_KPROBE);
      bpf_program__set_expected_attach_type(program,
                                            static_cast<bpf_attach_type>(kBpfTraceUprobeSession));
    }
  };
  if (!collector->skel_.Load("the heap profiler", configure, error)) return nullptr;
  heap_bpf* skel = collector->skel_.get();
  if (!collector->UseObject(skel->obj, options, error)) return nullptr;
  if (options.track_peak) {
    collector->peak_events_ = ring_buffer__new(bpf_map__fd(skel->maps.heap_events), OnPeakEvent,
                                               collector.get(), nullptr);
    if (!collector->peak_events_) {
      *error = DescribeBpfError("cannot read the heap's peak events", errno);
      return nullptr;
    }
  }
  // Where each target's allocator functions are, so the allocator calling itself is not counted
  // twice.
  for (const Target& target : collector->targets_) {
    if (target.preload) continue;  // the sampler guards against its own nesting
    profd_allocator_ranges ranges = {};
    const ProcessInfo* process = processes.Find(target.pid);
    for (const auto& [name, function] : target.functions) {
      for (const Mapping& m : process->mappings) {
        if (m.file != target.file || function.offset < m.offset ||
            function.offset >= m.offset + (m.end - m.start) ||
            ranges.count == PROFD_MAX_ALLOCATOR_FUNCTIONS)
          continue;
        ranges.start[ranges.count] = m.start + (function.offset - m.offset);
        ranges.end[ranges.count] =
            ranges.start[ranges.count] + std::max<uint64_t>(function.size, 1);
        ranges.count++;
      }
    }
    const uint32_t key = static_cast<uint32_t>(target.pid);
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.allocator_ranges), &key, &ranges, BPF_ANY)) {
      *error = DescribeBpfError("cannot store the allocator's addresses", errno);
      return nullptr;
    }
  }
  return collector;
}

HeapCollector::~HeapCollector() {
  Stop();
  if (peak_events_) ring_buffer__free(peak_events_);
}

// At most this many events are kept (80 bytes each): a billion bytes allocated per 2 events at
// the default rate would take 2 TB to fill it.
constexpr size_t kMaxPeakEvents = 4 << 20;

int HeapCollector::OnPeakEvent(void* self, void* data, size_t size) {
  auto* c = static_cast<HeapCollector*>(self);
  if (size < sizeof(profd_heap_event) || c->peak_log_full_) return 0;
  if (c->peak_log_.size() >= kMaxPeakEvents) {
    c->peak_log_full_ = true;
    return 0;
  }
  profd_heap_event event;
  std::memcpy(&event, data, sizeof(event));
  c->peak_log_.push_back(event);
  if (event.kind == PROFD_HEAP_EVENT_ALLOC) {
    c->live_bytes_ += static_cast<double>(event.block.estimated_bytes);
  } else {
    // A free event carries no size: the block's, from its allocation, is subtracted at replay;
    // here the running total needs it too, from the blocks live now.
    auto it = c->peak_live_now_.find({event.pid, event.address});
    if (it != c->peak_live_now_.end()) {
      c->live_bytes_ -= static_cast<double>(it->second);
      c->peak_live_now_.erase(it);
    }
  }
  if (event.kind == PROFD_HEAP_EVENT_ALLOC)
    c->peak_live_now_[{event.pid, event.address}] = event.block.estimated_bytes;
  if (c->live_bytes_ > c->peak_bytes_) {
    c->peak_bytes_ = c->live_bytes_;
    c->peak_at_ = c->peak_log_.size();
  }
  return 0;
}

void HeapCollector::FindPeak() {
  if (!peak_events_) return;
  ring_buffer__consume(peak_events_);
  std::map<std::pair<uint32_t, uint64_t>, profd_live_block> live;
  for (size_t i = 0; i < peak_at_ && i < peak_log_.size(); i++) {
    const profd_heap_event& e = peak_log_[i];
    if (e.kind == PROFD_HEAP_EVENT_ALLOC)
      live[{e.pid, e.address}] = e.block;
    else
      live.erase({e.pid, e.address});
  }
  peak_blocks_.clear();
  for (const auto& [key, block] : live) peak_blocks_.push_back(block);
}

bool HeapCollector::AttachProbes(std::string* error) {
  for (Target& target : targets_) {
    if (target.gone) continue;
    if (target.preload) {
      if (!AttachPreloadProbes(&target, error)) return false;
      continue;
    }
    std::vector<uint64_t> offsets, cookies;
    for (const auto& [name, function] : target.functions) {
      // Aliases (memalign = aligned_alloc in some glibc versions) share one probe.
      if (std::find(offsets.begin(), offsets.end(), function.offset) != offsets.end()) continue;
      offsets.push_back(function.offset);
      cookies.push_back(FunctionCookie(name));
    }
    target.link = AttachSessionProbes(skel_->progs.profd_heap_call, target.file->open_path(),
                                      offsets, cookies, target.pid);
    if (target.link.valid()) continue;
    const int err = errno;
    if (!ProcessExists(target.pid)) {
      target.gone = true;
      continue;
    }
    DetachProbes();
    *error = DescribeAttachError(
        "cannot attach uprobes to " + target.path + " in pid " + std::to_string(target.pid), err);
    return false;
  }
  probes_attached_ = true;
  skel_->bss->probes_attached = 1;
  return true;
}

bool HeapCollector::AttachPreloadProbes(Target* target, std::string* error) {
  std::vector<uint64_t> sampled, freed;
  for (const auto& [name, point] : target->functions)
    (name.rfind(kPreloadSampledPrefix, 0) == 0 ? sampled : freed).push_back(point.offset);
  const std::vector<uint64_t> sampled_cookies(sampled.size(), 0), freed_cookies(freed.size(), 0);
  const std::string path = target->file->open_path();
  target->link = AttachSessionProbes(skel_->progs.profd_preload_sampled, path, sampled,
                                     sampled_cookies, target->pid);
  if (target->link.valid())
    target->free_link = AttachSessionProbes(skel_->progs.profd_preload_freed, path, freed,
                                            freed_cookies, target->pid);
  if (target->link.valid() && target->free_link.valid()) return true;
  const int err = errno;
  if (!ProcessExists(target->pid)) {
    target->gone = true;
    return true;
  }
  DetachProbes();
  *error = DescribeAttachError("cannot attach uprobes to profd's preload sampler " + target->path +
                                   " in pid " + std::to_string(target->pid),
                               err);
  return false;
}

void HeapCollector::DetachProbes() {
  if (skel_) skel_->bss->probes_attached = 0;
  for (Target& target : targets_) {
    target.link = UniqueFd();
    target.free_link = UniqueFd();
  }
  probes_attached_ = false;
}

bool HeapCollector::OpenUserTickEvents(std::string* error) {
  bpf_program* program = skel_->progs.profd_heap_user_tick;
  std::vector<pid_t> pids;
  for (const Target& target : targets_)
    if (!target.preload) pids.push_back(target.pid);
  return ForEachNewThread(pids, &ticked_threads_, [&](pid_t tid) {
    UniqueFd fd(OpenSoftwarePerfEvent(PERF_COUNT_SW_TASK_CLOCK, kUserTickNanos, tid, -1,
                                      /*inherit=*/true, /*user_only=*/true));
    if (!fd.valid() && errno == ESRCH) return true;  // the thread has exited meanwhile
    bpf_link* link = fd.valid() ? AttachToPerfEvent(program, std::move(fd)) : nullptr;
    if (!link) {
      *error = DescribeBpfError(
          "cannot time thread " + std::to_string(tid) + "'s user-mode work (a task-clock perf "
          "event), which scales what duty-cycled probes see",
          errno);
      return false;
    }
    links_.push_back(link);
    return true;
  });
}

HeapCollector::UserTicks HeapCollector::ReadUserTicks() const {
  const volatile __u64* ticks = skel_->bss->user_ticks;
  return {ticks[0], ticks[1]};
}

HeapCollector::HitCounts HeapCollector::ReadHits() const {
  HitCounts hits;
  const int fd = bpf_map__fd(skel_->maps.heap_stats);
  const int cpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> per_cpu(std::max(cpus, 1));
  auto sum = [&](uint32_t id) {
    uint64_t total = 0;
    if (bpf_map_lookup_elem(fd, &id, per_cpu.data()) == 0)
      for (uint64_t v : per_cpu) total += v;
    return total;
  };
  hits.alloc_calls = sum(PROFD_HEAP_ALLOC_CALLS);
  hits.alloc_returns = sum(PROFD_HEAP_ALLOC_RETURNS);
  hits.frees = sum(PROFD_HEAP_FREE_CALLS);
  hits.nested = sum(PROFD_HEAP_NESTED_CALLS);
  return hits;
}

HeapCollector::CpuTimes HeapCollector::TargetCpuTimes() const {
  CpuTimes times;
  for (const Target& target : targets_) {
    times.total += ProcessRunSeconds(target.pid);
    times.user += ProcessUserSeconds(target.pid);
  }
  return times;
}

double HeapCollector::ProbeSeconds(const HitCounts& hits) const {
  return (hits.alloc_calls + hits.frees) * cost_.entry_seconds +
         hits.alloc_returns * cost_.return_seconds;
}

bool HeapCollector::Attach(std::string* error) {
  if (!preload_ && !ProbeCostMeasuredLately(skel_.get(), &cost_, error)) return false;
  // The meter matters only if the probes may be duty-cycled.
  if (!preload_ && options_.max_overhead_percent < 100 && !OpenUserTickEvents(error)) return false;
  if (!AttachProbes(error)) return false;
  if (!AttachProcessEvents(error)) return false;
  StartWindow(SteadySeconds());
  next_switch_ = window_start_ + on_length_;
  return true;
}

// Closes the current window (probes on or off) into the totals.
void HeapCollector::EndWindow(double now, bool closes) {
  const CpuTimes times = TargetCpuTimes();
  const double cpu = std::max(0.0, times.total - cpu_at_window_start_.total);
  const double user = std::max(0.0, times.user - cpu_at_window_start_.user);
  if (probes_attached_) {
    const HitCounts now_hits = ReadHits();
    HitCounts window = {now_hits.alloc_calls - hits_at_window_start_.alloc_calls,
                        now_hits.alloc_returns - hits_at_window_start_.alloc_returns,
                        now_hits.frees - hits_at_window_start_.frees,
                        now_hits.nested - hits_at_window_start_.nested};
    hits_on_.alloc_calls += window.alloc_calls;
    hits_on_.alloc_returns += window.alloc_returns;
    hits_on_.frees += window.frees;
    hits_on_.nested += window.nested;
    const double c = static_cast<double>(window.alloc_calls);
    const double t = static_cast<double>(ReadUserTicks().attached - attached_ticks_at_window_start_);
    if (c > 0 || t > 0) {
      WindowSums& w = attached_windows_;
      w.n += 1;
      w.c += c;
      w.t += t;
      w.cc += c * c;
      w.ct += c * t;
      w.tt += t * t;
    }
    // What the probes cost the targets: the calibrated cost of their hits, or, where more, the
    // system time the targets spent in this window beyond what their user work has cost them in
    // system time while detached. Traps are system time, so that excess is the probes' real cost
    // in the targets (calibration runs on profd, whose mappings and caches are not theirs), and
    // it includes attaching: the breakpoints written into their pages.
    const double baseline = user_off_ > 0 ? (cpu_off_ - user_off_) / user_off_ * user : 0;
    const double measured = std::max(0.0, (cpu - user) - baseline);
    probe_seconds_ += std::max(ProbeSeconds(window), measured);
    if (measured > ProbeSeconds(window)) measured_cost_windows_++;
    seconds_on_ += now - window_start_;
    cpu_on_ += cpu;
    if (closes) windows_++;
    LogDebug("heap window: " + std::to_string(now - window_start_) + " s attached, target cpu " +
             std::to_string(cpu) + " s, probes " + std::to_string(ProbeSeconds(window)) + " s");
  } else {
    seconds_off_ += now - window_start_;
    cpu_off_ += cpu;
    user_off_ += user;
    LogDebug("heap window: " + std::to_string(now - window_start_) + " s detached, target cpu " +
             std::to_string(cpu) + " s");
  }
}

double HeapCollector::Poll() {
  if (peak_events_) ring_buffer__consume(peak_events_);
  if (preload_) return 0.1;  // always attached: a trap per sample only, nothing to budget
  const double now = SteadySeconds();
  if (stopped_ || now < next_switch_) return std::min(0.1, std::max(0.0, next_switch_ - now));
  const bool was_attached = probes_attached_;
  const double window_started = window_start_;
  const double cpu_before = cpu_on_;
  const double probe_before = probe_seconds_;
  EndWindow(now);
  if (was_attached) {
    // The share of the targets' CPU the probes took in this window decides the duty cycle.
    const double cpu = cpu_on_ - cpu_before;
    const double probes = probe_seconds_ - probe_before;
    // Aim under the budget: the cost per hit is measured on profd, not in the target.
    const double budget = 0.8 * options_.max_overhead_percent / 100;
    const double share = cpu > 0 ? std::min(1.0, probes / cpu) : 0;
    const bool always_on = options_.max_overhead_percent >= 100;
    const double duty = share > budget && !always_on ? budget / share : 1;
    if (duty < 1) {
      if (!duty_cycled_ && options_.sample_rate > 1) {
        // Only `duty` of the allocations will be seen: sampled that much more densely, they give
        // as many samples as an always-on window would.
        rate_in_force_ = std::max<uint64_t>(
            1, static_cast<uint64_t>(static_cast<double>(options_.sample_rate) * duty));
        skel_->data->sample_rate = rate_in_force_;
        skel_->bss->sample_rate_generation += 1;
      }
      duty_cycled_ = true;
      // A cycle of about 0.25 s: many windows, so that the scale's error can be measured and
      // the program's phases average out (each window costs an attach and a detach).
      on_length_ = std::clamp(duty / 4, 0.01, 1.0);
      DetachProbes();
      // Off long enough for this cycle's share, and for the whole collection's to come back under
      // the budget (the first window, at full rate, may have gone over it).
      const double cpu_rate = cpu / std::max(1e-3, now - window_started);
      const double catch_up =
          (probe_seconds_ / budget - (cpu_on_ + cpu_off_)) / std::max(cpu_rate, 1e-3);
      // Detached windows of random length: windows in step with a periodic program would see
      // only one phase of it.
      const double off = on_length_ * (1 - duty) / duty *
                         std::uniform_real_distribution<double>(0.5, 1.5)(jitter_);
      next_switch_ = now + std::max(off, std::min(catch_up, 10.0));
    } else {
      // Stays attached; looks again soon, as an idle target may start allocating any moment.
      next_switch_ = now + 0.02;
    }
  } else {
    std::string error;
    if (!AttachProbes(&error)) {
      window_errors_.push_back(error);
      stopped_ = true;
      return 0.1;
    }
    next_switch_ = now + on_length_;
  }
  StartWindow(now);
  return std::min(0.1, next_switch_ - now);
}

void HeapCollector::StartWindow(double now) {
  window_start_ = now;
  hits_at_window_start_ = ReadHits();
  cpu_at_window_start_ = TargetCpuTimes();
  attached_ticks_at_window_start_ = ReadUserTicks().attached;
}

void HeapCollector::Checkpoint() {
  if (stopped_ || !skel_) return;
  const double now = SteadySeconds();
  EndWindow(now, /*closes=*/false);
  StartWindow(now);
}

std::string HeapCollector::UntrustedTotalsWarning(const Estimate& estimate) const {
  return "allocation totals are NOT to be trusted: " + estimate.why_not +
         ", so what share of its allocations the windows saw cannot be measured well (totals may "
         "be many times off); the proportions between stacks hold. --max-overhead 100 keeps the "
         "probes attached, for true totals at a large cost to the target";
}

void HeapCollector::Stop() {
  if (!stopped_ && skel_ && (probes_attached_ || windows_ > 0)) EndWindow(SteadySeconds());
  if (!stopped_) FindPeak();
  if (!stopped_) {
    if (const Estimate estimate = WindowScale(); !estimate.trusted)
      LogWarning(UntrustedTotalsWarning(estimate));
  }
  stopped_ = true;
  DetachProbes();
  StackCollector::Stop();
}

StackSamples HeapCollector::Collect() const {
  StackSamples allocated = StackCollector::Collect();
  // One row per (thread, stack): allocated {objects, bytes} from counts, in use from live blocks.
  using RowKey = std::tuple<uint32_t, uint32_t, std::string, uint64_t, uint64_t>;
  std::map<RowKey, StackSample> rows;
  for (StackSample& s : allocated.samples) {
    RowKey key{s.pid, s.tid, s.thread_comm, s.user_stack_id, s.kernel_stack_id};
    s.values = {s.values[0], s.values[1], 0, 0, 0, 0};
    rows[key] = std::move(s);
  }
  // In use at the end (values 2, 3) and, with track_peak, at the peak (values 4, 5).
  auto add_blocks = [&](const std::vector<profd_live_block>& blocks, size_t at) {
    for (const profd_live_block& block : blocks) {
      const profd_sample_key& k = block.key;
      std::string comm(k.thread_comm, strnlen(k.thread_comm, sizeof(k.thread_comm)));
      RowKey key{k.pid, k.tid, comm, k.user_stack_id, k.kernel_stack_id};
      StackSample& row = rows[key];
      if (row.values.empty()) {  // its allocation was not counted (counts map full)
        row = {k.pid, k.tid, comm, k.user_stack_id, k.kernel_stack_id, {0, 0, 0, 0, 0, 0}};
        if (k.user_stack_id && !allocated.stacks.count(k.user_stack_id)) {
          StackTrace trace;
          if (ReadStackTrace(k.user_stack_id, &trace))
            allocated.stacks.emplace(k.user_stack_id, std::move(trace));
        }
      }
      row.values[at] += static_cast<int64_t>(block.estimated_count_q16);
      row.values[at + 1] += static_cast<int64_t>(block.estimated_bytes);
    }
  };
  add_blocks(ReadLiveBlocks(bpf_map__fd(skel_->maps.live)), 2);
  // Under a duty cycle frees go unseen while detached: no peak (Notes says so).
  if (options_.track_peak && !duty_cycled_) add_blocks(peak_blocks_, 4);
  const double window_scale = WindowScale().scale;

  StackSamples out;
  out.events = allocated.events;
  out.drops = std::move(allocated.drops);
  for (auto& [key, row] : rows) {
    // Objects are counted in 1/65536ths (each sample stands for 1/p allocations, see heap.bpf.c).
    const double objects_allocated = static_cast<double>(row.values[0]) / 65536 * window_scale;
    const double bytes_allocated = static_cast<double>(row.values[1]) * window_scale;
    row.values = {std::llround(objects_allocated), std::llround(bytes_allocated),
                  std::llround(static_cast<double>(row.values[2]) / 65536), row.values[3],
                  std::llround(static_cast<double>(row.values[4]) / 65536), row.values[5]};
    if (!options_.track_peak) row.values.resize(4);
    out.samples.push_back(std::move(row));
  }
  // Every stack starts at the allocator's entry point, where the probe fired: like Go's, the
  // profile's leaf is the function that called it.
  for (auto& [id, trace] : allocated.stacks)
    if (trace.ips.size() > 1) trace.ips.erase(trace.ips.begin());
  out.stacks = std::move(allocated.stacks);
  return out;
}

HeapCollector::Estimate HeapCollector::WindowScale() const {
  // Allocations are seen only while the probes are attached. A program allocates in step with the
  // work it does, and its work is its user-mode time: the probes' traps are kernel time, so they
  // slow the program without adding to it. The meter's ticks in all windows over attached ones
  // scale what was seen to the whole (windows of random lengths, so no phase of the program is
  // favoured). The error: the attached windows are a sample of the program's time, each with its
  // allocation calls and ticks; how their calls per tick vary (a ratio estimator's variance, which
  // holds the ticks' own Poisson noise and the program's phases) gives the scale's standard error.
  if (!duty_cycled_) return {1, "", true, ""};
  const UserTicks ticks = ReadUserTicks();
  const double on = static_cast<double>(ticks.attached);
  const double all = on + static_cast<double>(ticks.detached);
  if (on <= 0)
    return {seconds_on_ > 0 ? (seconds_on_ + seconds_off_) / seconds_on_ : 1,
            "wall time: the probes took all of the targets' time while attached, so their work "
            "then could not be measured",
            false, "the probes took all of the target's time while they were attached"};
  const WindowSums& w = attached_windows_;
  const size_t worked = static_cast<size_t>(w.n);  // windows in which the targets worked
  double error = std::sqrt(std::max(0.0, 1 - on / all) / on);  // the ticks' Poisson noise alone
  if (w.n >= 2 && w.c > 0 && w.t > 0) {
    const double rate = w.c / w.t;
    // Σ (c - rate·t)², expanded into the sums kept.
    const double residuals = std::max(0.0, w.cc - 2 * rate * w.ct + rate * rate * w.tt);
    const double ratio_error = std::sqrt(residuals / (w.n * (w.n - 1))) / (w.t / w.n) / rate;
    error = std::max(error, ratio_error);
  }
  char basis[400];
  std::snprintf(basis, sizeof(basis),
                "the targets' user-mode time in all windows over attached ones: %.0f of %.0f "
                "ticks of %.0f ms in %zu attached windows with work, standard error %.0f%% (from "
                "how their allocation calls per tick vary)",
                on, all, kUserTickNanos / 1e6, worked, 100 * error);
  Estimate estimate{all / on, basis, error <= kTrustedScaleError && worked >= kTrustedWindows, ""};
  char why[300];
  if (worked < kTrustedWindows) {
    std::snprintf(why, sizeof(why),
                  "the probes were attached in only %zu windows in which the target worked (at "
                  "least %zu are needed to tell how its allocation rate varies), because they "
                  "cost it so much while attached",
                  worked, kTrustedWindows);
    estimate.why_not = why;
  } else if (!estimate.trusted) {
    std::snprintf(why, sizeof(why),
                  "the target's allocation calls per unit of work varied so much between the %zu "
                  "attached windows (or so little of its work fell in them) that the scale's "
                  "standard error is %.0f%%",
                  worked, 100 * error);
    estimate.why_not = why;
  }
  return estimate;
}

std::vector<std::string> HeapCollector::Notes() const {
  std::vector<std::string> notes;
  char line[600];
  for (const Target& t : targets_) {
    std::string functions;
    bool cxx = false;
    for (const auto& [name, function] : t.functions) {
      if (name.rfind("_Z", 0) == 0) {
        cxx = true;
        continue;
      }
      functions += (functions.empty() ? "" : ", ") + name;
    }
    if (cxx) functions += ", operator new and delete";
    if (t.preload)
      notes.push_back("pid " + std::to_string(t.pid) +
                      ": allocations sampled in the process by profd's preload sampler (" + t.path +
                      ", interposing malloc, calloc, realloc, reallocarray, posix_memalign, "
                      "aligned_alloc, memalign, valloc, pvalloc and free over the allocator it "
                      "would have used): one uprobe trap per sampled allocation and per free of a "
                      "sampled block, none for the other calls");
    else
      notes.push_back("pid " + std::to_string(t.pid) + ": uprobes on " + functions + " in " +
                      t.path +
                      (options_.preload_library.empty()
                           ? ""
                           : " (launched with profd's preload sampler, which is not the allocator "
                             "it calls: a statically linked one, or a program that refuses "
                             "LD_PRELOAD)"));
  }
  std::snprintf(line, sizeof(line),
                "sampled by bytes: on average one sample per %" PRIu64
                " bytes allocated; each sampled allocation of size s counts 1/p allocations and "
                "s/p bytes, p = 1 - exp(-s / rate) its chance of being sampled",
                options_.sample_rate);
  notes.push_back(options_.sample_rate <= 1 ? "every allocation recorded (--sample-rate 1)" : line);
  if (options_.track_peak) {
    if (duty_cycled_)
      notes.push_back("no peak: the probes were duty-cycled, so frees went unseen while detached");
    else
      notes.push_back("peak_inuse_*: the sampled blocks live when their estimated bytes were "
                      "highest (" + std::to_string(std::llround(peak_bytes_)) + " bytes, after " +
                      std::to_string(peak_at_) + " of " + std::to_string(peak_log_.size()) +
                      " sampled allocations and frees" +
                      (peak_log_full_ ? "; the log filled: later events not seen" : "") + ")");
  }
  if (preload_) return notes;  // no probes on the allocator: no probe cost, no duty cycle
  const uint64_t hits = hits_on_.alloc_calls + hits_on_.alloc_returns + hits_on_.frees;
  std::snprintf(line, sizeof(line),
                "probe cost measured here: %.1f us per probe hit, %.1f us more for the return "
                "probe of a sampled allocation; %" PRIu64 " allocation calls (%" PRIu64
                " sampled) and %" PRIu64
                " frees probed (%.0f hits/s while attached), %.2f%% of the targets' CPU time",
                cost_.entry_seconds * 1e6, cost_.return_seconds * 1e6, hits_on_.alloc_calls,
                hits_on_.alloc_returns, hits_on_.frees, seconds_on_ > 0 ? hits / seconds_on_ : 0.0,
                cpu_on_ + cpu_off_ > 0 ? 100 * probe_seconds_ / (cpu_on_ + cpu_off_) : 0.0);
  notes.push_back(line);
  if (measured_cost_windows_ > 0)
    notes.push_back("in " + std::to_string(measured_cost_windows_) +
                    " windows the targets spent more system time than the probes' measured cost "
                    "explains; that time was counted as the probes' cost");
  if (duty_cycled_) {
    const Estimate estimate = WindowScale();
    std::snprintf(line, sizeof(line),
                  "duty-cycled to keep the probes under %.1f%% of the targets' CPU: attached "
                  "%.1f%% of the time in %d windows, sampling every %" PRIu64
                  " bytes on average while attached; allocation values scaled by %.2f (%s); "
                  "in-use values still count sampled blocks freed while the probes were detached",
                  options_.max_overhead_percent,
                  100 * seconds_on_ / std::max(1e-9, seconds_on_ + seconds_off_), windows_,
                  rate_in_force_, estimate.scale, estimate.basis.c_str());
    notes.push_back(line);
    if (!estimate.trusted) notes.push_back(UntrustedTotalsWarning(estimate));
  }
  for (const std::string& e : window_errors_) notes.push_back("probes stopped early: " + e);
  return notes;
}

}  // namespace profd
