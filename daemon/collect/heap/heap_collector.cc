#include "collect/heap/heap_collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstring>
#include <tuple>

#include "base/log.h"
#include "collect/bpf_maps.h"
#include "collect/bpf_support.h"
#include "collect/heap/session_probes.h"
#include "heap.skel.h"

namespace profd {
namespace {

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
const Mapping* PreloadSampler(const ProcessInfo& process,
                              const std::vector<std::string>& libraries) {
  if (libraries.empty()) return nullptr;
  if (const Mapping* main = process.MainMapping(); main && main->file) {
    const auto own = FindAllocatorFunctions(main->file->open_path());
    if (own.count("malloc") && own.count("free")) return nullptr;
  }
  for (const Mapping& m : process.mappings)
    for (const std::string& library : libraries)
      if (m.file && IsFile(*m.file, library)) return &m;
  return nullptr;
}

}  // namespace

Result<std::unique_ptr<HeapCollector>> HeapCollector::Load(const Options& options,
                                                           const ProcessTable& processes) {
  std::string error;
  std::unique_ptr<HeapCollector> collector(new HeapCollector());
  collector->options_ = options;
  for (pid_t pid : options.pids) {
    const ProcessInfo* process = processes.Find(pid);
    if (!process) {
      return Error{"pid " + std::to_string(pid) + " exited before its allocator could be found"};
    }
    Target target;
    target.pid = pid;
    // The program calls the preload sampler's malloc, unless its executable defines its own (the
    // loader binds the executable's first, then LD_PRELOAD's): the sampler's labels are probed.
    if (const Mapping* sampler = PreloadSampler(*process, options.preload_libraries)) {
      target.preload = true;
      target.file = sampler->file;
      target.path = sampler->path;
      target.functions = FindPreloadPoints(target.file->open_path());
      if (target.functions.empty()) {
        return Error{target.path + " has no profd_preload_* labels"};
      }
    } else {
      Allocator allocator;
      if (!FindAllocator(*process, &allocator, &error)) return Error{error};
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
    Configure(options, skel);
    skel->rodata->track_peak = options.track_peak;
    skel->data->sample_rate = options.sample_rate;
    for (int i = 0; i < PROFD_EXP_TABLE_SIZE; i++) {
      const double u = (i + 0.5) / PROFD_EXP_TABLE_SIZE;
      skel->rodata->exp_table[i] = static_cast<uint32_t>(std::lround(-std::log(u) * 65536));
    }
    for (int i = 0; i < PROFD_SIZE_WEIGHT_TABLE_SIZE; i++)
      skel->rodata->size_weight[i] = static_cast<uint32_t>(
          std::lround(SampleBytesWeight(static_cast<double>(i) / PROFD_SIZE_WEIGHT_STEPS) * 65536));
    // libbpf 1.1 predates uprobe session programs: their type is set here.
    for (bpf_program* program :
         {skel->progs.profd_heap_call, skel->progs.profd_calibrate,
          skel->progs.profd_preload_sampled, skel->progs.profd_preload_freed}) {
      bpf_program__set_type(program, BPF_PROG_TYPE_KPROBE);
      bpf_program__set_expected_attach_type(program,
                                            static_cast<bpf_attach_type>(kBpfTraceUprobeSession));
    }
  };
  if (!collector->skel_.Load("the heap profiler", configure, &error)) return Error{error};
  heap_bpf* skel = collector->skel_.get();
  if (!collector->UseObject(skel->obj, options, &error)) return Error{error};
  if (options.track_peak) {
    collector->peak_events_ = ring_buffer__new(bpf_map__fd(skel->maps.heap_events), OnPeakEvent,
                                               collector.get(), nullptr);
    if (!collector->peak_events_) {
      return Error{DescribeBpfError("cannot read the heap's peak events", errno)};
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
      return Error{DescribeBpfError("cannot store the allocator's addresses", errno)};
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

Result<void> HeapCollector::Attach() {
  std::string error;
  if (!preload_ && !MeasureProbeCostLately(&error)) return Error{error};
  // The meter matters only if the probes may be duty-cycled.
  if (!preload_ && options_.max_overhead_percent < 100 && !OpenUserTickEvents(&error))
    return Error{error};
  if (!AttachProbes(&error) || !AttachProcessEvents(&error)) return Error{error};
  StartWindow(Now());
  next_switch_ = window_start_ + on_length_;
  return {};
}

void HeapCollector::Stop() {
  if (!stopped_ && skel_ && (probes_attached_ || windows_ > 0)) EndWindow(Now());
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
    row.values = {std::llround(objects_allocated),
                  std::llround(bytes_allocated),
                  std::llround(static_cast<double>(row.values[2]) / 65536),
                  row.values[3],
                  std::llround(static_cast<double>(row.values[4]) / 65536),
                  row.values[5]};
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
                      "aligned_alloc, memalign, valloc, pvalloc and free" +
                      (t.functions.count(std::string(kPreloadSampledPrefix) + "mallocx")
                           ? ", and jemalloc's mallocx, rallocx, dallocx and sdallocx,"
                           : "") +
                      " over the allocator it would have used): one uprobe trap per sampled "
                      "allocation and per free of a sampled block, none for the other calls");
    else
      notes.push_back("pid " + std::to_string(t.pid) + ": uprobes on " + functions + " in " +
                      t.path +
                      (options_.preload_libraries.empty()
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
      notes.push_back(
          "peak_inuse_*: the sampled blocks live when their estimated bytes were "
          "highest (" +
          std::to_string(std::llround(peak_bytes_)) + " bytes, after " + std::to_string(peak_at_) +
          " of " + std::to_string(peak_log_.size()) + " sampled allocations and frees" +
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
