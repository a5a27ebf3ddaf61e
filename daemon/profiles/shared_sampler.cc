#include "profiles/shared_sampler.h"

#include <malloc.h>

#include <algorithm>
#include <span>

#include "base/log.h"
#include "collect/bpf_maps.h"
#include "process/proc_files.h"

namespace profd {

class SharedSampler::Subscription {
 public:
  std::set<pid_t> pids;  // empty: every process
  uint64_t serial = 0;   // in the order subscribed
  std::array<uint64_t, PROFD_COUNTER_MAX> counters_at_start{};
  // Samples merged by key, as the kernel's counts map would have them.
  std::map<std::tuple<uint32_t, uint32_t, std::string, uint64_t, uint64_t>, StackSample> samples;
  std::unordered_map<uint64_t, StackTrace> stacks;
  bool ending = false;  // Finish waits for the drain thread to take its last samples
  bool ended = false;

  bool Wants(uint32_t pid) const { return pids.empty() || pids.count(static_cast<pid_t>(pid)); }
};

namespace {

// The kernel's stacks map holds 16384 stacks; pruned at half, so it never fills.
constexpr size_t kPruneStacksAt = 8192;
// The userspace copy of stacks is dropped when it grows past this (ids are content hashes, so a
// stack read again is the same stack).
constexpr size_t kMaxCachedStacks = 200000;
// How long the symbolizer's parsed files outlive the last request. Kept past the schedule's next
// round they saved it a third of its CPU, but held the daemon's memory at its round's peak for
// good (the idle daemon's RSS median 87 -> 216 MiB on a host of large binaries).
constexpr std::chrono::seconds kSymbolsLinger(30);

}  // namespace

SharedSampler::SharedSampler(Loader load, bool dwarf_unwinding, std::chrono::seconds linger,
                             std::chrono::seconds unload_after)
    : load_(std::move(load)),
      dwarf_unwinding_(dwarf_unwinding),
      linger_(linger),
      unload_after_(std::max(unload_after, linger)),
      processes_(ProcessTracker::Options{.dwarf_unwinding = dwarf_unwinding}) {
  drain_thread_ = std::jthread([this](std::stop_token stop) { DrainLoop(stop); });
  tables_thread_ = std::jthread([this](std::stop_token stop) { TablesLoop(stop); });
}

SharedSampler::~SharedSampler() {
  drain_thread_.request_stop();
  tables_thread_.request_stop();
  drain_thread_.join();
  tables_thread_.join();
  std::scoped_lock all(processes_mutex_, mutex_, tables_mutex_);
  UnloadLocked();
}

SharedSampler::Symbolizers SharedSampler::symbolizers() {
  std::lock_guard<std::mutex> lock(symbolizer_mutex_);
  // kallsyms changes when modules load and unload (and BPF programs, whose frames are rare): read
  // again when /proc/modules changed, looked at most once a minute, and every 10 minutes. Reading
  // it takes about 40 ms of CPU, which at one schedule round a minute was an eighth of the idle
  // daemon's.
  const auto now = std::chrono::steady_clock::now();
  if (!kernel_ || now - kernel_checked_ > std::chrono::minutes(1)) {
    kernel_checked_ = now;
    std::string modules = ReadProcFile("/proc/modules");
    if (!kernel_ || modules != kernel_modules_ || now - kernel_loaded_ > std::chrono::minutes(10)) {
      auto fresh = std::make_shared<KernelSymbolizer>();
      std::string error;
      if (fresh->Load("/proc/kallsyms", &error)) {
        kernel_ = std::move(fresh);
        kernel_modules_ = std::move(modules);
        kernel_loaded_ = now;
      } else {
        LogWarning("kernel frames stay unsymbolized: " + error);
      }
    }
  }
  return {symbolizer_, kernel_};
}

bool SharedSampler::loaded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return collector_ && attached_;
}

std::vector<std::string> SharedSampler::CollectorNotes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return collector_ ? collector_->Notes() : std::vector<std::string>{};
}

ProcessTable SharedSampler::Processes(const std::vector<pid_t>& pids) const {
  std::lock_guard<std::mutex> lock(processes_mutex_);
  return processes_.table().Snapshot(pids);
}

void SharedSampler::UnloadWhenIdle() {
  std::lock_guard<std::mutex> lock(mutex_);
  unload_when_idle_ = true;
}

uint64_t SharedSampler::samples_drained() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return samples_drained_;
}

Result<void> SharedSampler::LoadLocked() {
  if (collector_) {
    // Paused: its perf events open again.
    Result<void> attached = collector_->Attach();
    if (attached) {
      attached_ = sampling_ = true;
      idle_since_ = last_drain_ = std::chrono::steady_clock::now();
      LogInfo("shared sampler resumed");
      return {};
    }
    LogWarning("the paused shared sampler cannot attach again (" + attached.error() +
               "): loading it anew");
    UnloadLocked();
  }
  Result<std::unique_ptr<StackCollector>> made = load_();
  if (!made) return Error{made.error()};
  std::unique_ptr<StackCollector> collector = std::move(*made);
  auto tables = std::make_unique<LoadedUnwindTables>(collector->unwind_tables_fd(),
                                                     collector->process_unwind_fd(),
                                                     collector->python_processes_fd());
  if (Result<void> attached = collector->Attach(); !attached) return attached;
  tables_ = std::move(tables);
  PublishTablesStats();
  collector_ = std::move(collector);
  attached_ = sampling_ = true;
  unload_when_idle_ = false;
  // Not unloaded at the next drain for an idleness that began before this load.
  idle_since_ = last_drain_ = std::chrono::steady_clock::now();
  LogInfo("shared sampler loaded");
  return {};
}

std::shared_ptr<SharedSampler::Subscription> SharedSampler::Subscribe(
    const std::vector<pid_t>& pids, std::chrono::steady_clock::time_point* start,
    std::string* error) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!collector_ || !attached_) {
        lock.unlock();
        std::scoped_lock all(processes_mutex_, mutex_, tables_mutex_);
        if (!collector_ || !attached_) {
          if (Result<void> loaded = LoadLocked(); !loaded) {
            *error = loaded.error();
            return nullptr;
          }
        }
      }
    }
    {
      // The targets' mappings and unwind tables before their samples count, without holding up
      // the drain and the other requests.
      UnwindTableChanges changes;
      {
        std::lock_guard<std::mutex> lock(processes_mutex_);
        for (pid_t pid : pids) processes_.Read(pid, &changes);
      }
      ApplyTableChanges(changes);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!collector_ || !attached_) continue;  // paused or unloaded meanwhile: again
    if (!sampling_) {
      // Quiet since the last request: its counts are empty, so the window starts now.
      collector_->SetSampling(true);
      sampling_ = true;
      last_drain_ = std::chrono::steady_clock::now();
    }
    // Its window starts at the last drain: the next one hands it what was counted since. Draining
    // here instead (a syscall per counts key) made 50 subscriptions wait behind each other.
    *start = last_drain_;
    symbols_kept_ = true;  // the symbolizer is about to be used
    auto subscription = std::make_shared<Subscription>();
    subscription->pids.insert(pids.begin(), pids.end());
    subscription->counters_at_start = collector_->CounterTotals();
    subscription->serial = next_serial_++;
    unfinished_.insert(subscription->serial);
    subscriptions_.insert(subscription);
    return subscription;
  }
}

StackSamples SharedSampler::Finish(const std::shared_ptr<Subscription>& subscription,
                                   ProcessTable* processes,
                                   std::unique_ptr<PythonFrameNames>* python,
                                   std::optional<LoadedUnwindTables::Stats>* unwind) {
  StackSamples out;
  {
    // Its window ends at the next drain, which the drain thread makes now for every subscription
    // ending meanwhile (one drain for 50 requests ending together, not 50).
    std::unique_lock<std::mutex> lock(mutex_);
    subscription->ending = true;
    drain_requested_ = true;
    wake_.notify_all();
    if (!drained_.wait_for(lock, std::chrono::seconds(2), [&] { return subscription->ended; })) {
      if (collector_ && attached_) DrainLocked();  // the drain thread is stopping, or stuck
      if (!subscription->ended) {
        subscription->ended = true;
        subscriptions_.erase(subscription);
        finishing_++;
      }
    }
    for (auto& [key, sample] : subscription->samples) out.samples.push_back(std::move(sample));
    subscription->samples.clear();
    out.stacks = std::move(subscription->stacks);
    if (collector_) {
      std::array<uint64_t, PROFD_COUNTER_MAX> delta = collector_->CounterTotals();
      for (int i = 0; i < PROFD_COUNTER_MAX; i++) delta[i] -= subscription->counters_at_start[i];
      ReportCounters(delta, &out);
    }
  }
  {
    // Still counted as running (finishing_), so the processes that exited during its window are
    // kept until copied.
    UnwindTableChanges changes;
    {
      // A host-wide window's processes first sampled in its last drain; a pid's were read when it
      // subscribed.
      if (subscription->pids.empty()) ReadNewProcesses(&changes);
      std::lock_guard<std::mutex> lock(processes_mutex_);
      *processes = processes_.table().Snapshot(
          std::vector<pid_t>(subscription->pids.begin(), subscription->pids.end()));
      *python = python_.CopyFor(*processes);
    }
    ApplyTableChanges(changes);
    // Not under tables_mutex_: the tables thread may be building tables for the host's new
    // processes (50 requests once waited 19 s in all for it).
    std::lock_guard<std::mutex> lock(tables_stats_mutex_);
    *unwind = dwarf_unwinding_ ? tables_stats_ : std::nullopt;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  LogDebug("shared sampler: a subscription ends with " + std::to_string(out.samples.size()) +
           " sample keys (" + std::to_string(out.events) + " samples taken host-wide meanwhile)");
  finishing_--;
  unfinished_.erase(unfinished_.find(subscription->serial));
  if (subscriptions_.empty() && finishing_ == 0) idle_since_ = std::chrono::steady_clock::now();
  return out;
}

void SharedSampler::DrainLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    enum { kNothing, kForgetSymbols, kPause, kUnload } idle = kNothing;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait_for(lock, stop, std::chrono::milliseconds(200), [&] { return drain_requested_; });
      drain_requested_ = false;
      if (!collector_) continue;
      const auto now = std::chrono::steady_clock::now();
      if (attached_ && sampling_) {
        DrainLocked();
        collector_->Poll();  // the CPU sampler varies its periods
      } else if (attached_ && now - last_drain_ > std::chrono::seconds(1)) {
        DrainLocked();  // quiet: only exec and exit notices come, and a second is soon enough
      }
      const auto since = now - idle_since_;
      // Nobody asks: no samples are taken. Nobody has asked for a while: the perf events go;
      // after longer (or once the settings changed) the programs and maps too. The next request
      // enables, attaches or loads them again.
      const bool nobody = subscriptions_.empty() && finishing_ == 0;
      if (nobody && attached_ && sampling_) QuietLocked();
      if (nobody && (unload_when_idle_ || since > unload_after_))
        idle = kUnload;
      else if (nobody && attached_ && since > linger_)
        idle = kPause;
      else if (nobody && symbols_kept_ && since > kSymbolsLinger)
        idle = kForgetSymbols;
      if (idle != kNothing) symbols_kept_ = false;
    }
    if (idle == kNothing) continue;
    if (idle != kForgetSymbols) {
      std::scoped_lock all(processes_mutex_, mutex_, tables_mutex_);
      if (!collector_ || !subscriptions_.empty() || finishing_) continue;  // a request came
      if (idle == kUnload)
        UnloadLocked();
      else if (attached_ && std::chrono::steady_clock::now() - idle_since_ > linger_)
        PauseLocked();
      else
        continue;
    }
    {
      // Its DWARF caches go too, and the freed memory back to the system: an idle daemon stays
      // small between the schedule's rounds.
      std::lock_guard<std::mutex> symbolizing(symbolizer_mutex_);
      symbolizer_ = std::make_shared<Symbolizer>(ProfileSymbolizerOptions());
    }
    malloc_trim(0);
    if (idle == kUnload)
      LogInfo("shared sampler unloaded: idle, or its settings changed");
    else if (idle == kPause)
      LogInfo("shared sampler paused: no requests for " + std::to_string(linger_.count()) + "s");
    else
      LogDebug("shared sampler's symbols forgotten: no requests for " +
               std::to_string(kSymbolsLinger.count()) + "s");
  }
}

void SharedSampler::TablesLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Also every second: exited processes are forgotten once their subscriptions finished.
      tables_wake_.wait_for(lock, stop, std::chrono::seconds(1), [&] { return new_processes_; });
      new_processes_ = false;
    }
    UnwindTableChanges changes;
    ReadNewProcesses(&changes);
    ApplyTableChanges(changes);
  }
}

void SharedSampler::DrainLocked() {
  // New processes and exec/exit notices: read by ReadNewProcesses, outside mutex_.
  for (pid_t pid : collector_->TakeSampledPids()) new_pids_.push_back(pid);
  for (const ProcessEvent& event : collector_->TakeProcessEvents())
    process_events_.push_back(event);
  // Python code objects new to the BPF walk: read by ReadNewProcesses while they live.
  for (const profd_python_code_seen& code : collector_->TakeNewPythonCodes())
    new_python_codes_.push_back(code);
  if (!new_pids_.empty() || !process_events_.empty() || !new_python_codes_.empty()) {
    new_processes_ = true;
    tables_wake_.notify_all();
  }
  const size_t cached_before = stacks_.size();
  std::vector<StackSample> drained = collector_->Drain(&stacks_);
  samples_drained_ += drained.size();
  if (stacks_.size() > cached_before) {
    // Every id newly read is in the kernel's map now.
    for (const StackSample& s : drained)
      for (uint64_t id : {s.user_stack_id, s.kernel_stack_id})
        if (id) stacks_in_kernel_.push_back(id);
  }
  for (const StackSample& s : drained) {
    for (const std::shared_ptr<Subscription>& sub : subscriptions_) {
      if (!sub->Wants(s.pid)) continue;
      auto key = std::make_tuple(s.pid, s.tid, s.thread_comm, s.user_stack_id, s.kernel_stack_id);
      auto [it, inserted] = sub->samples.try_emplace(key, s);
      if (!inserted)
        for (size_t i = 0; i < s.values.size(); i++) it->second.values[i] += s.values[i];
      for (uint64_t id : {s.user_stack_id, s.kernel_stack_id})
        if (auto st = stacks_.find(id); id && st != stacks_.end())
          sub->stacks.emplace(id, st->second);
    }
  }
  last_drain_ = std::chrono::steady_clock::now();
  bool ended = false;
  for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
    if (!(*it)->ending) {
      ++it;
      continue;
    }
    (*it)->ended = ended = true;
    finishing_++;  // until Finish has copied the processes
    it = subscriptions_.erase(it);
  }
  if (ended) drained_.notify_all();
  if (stacks_in_kernel_.size() > kPruneStacksAt) {
    std::sort(stacks_in_kernel_.begin(), stacks_in_kernel_.end());
    stacks_in_kernel_.erase(std::unique(stacks_in_kernel_.begin(), stacks_in_kernel_.end()),
                            stacks_in_kernel_.end());
    collector_->ForgetStacks(stacks_in_kernel_);
    stacks_in_kernel_.clear();
  }
  if (stacks_.size() > kMaxCachedStacks) stacks_.clear();
}

void SharedSampler::ReadNewProcesses(UnwindTableChanges* changes) {
  // One reader at a time: a host-wide request finishing waits for what the tables thread is
  // reading, so its copy of the processes has every one its samples came from.
  std::lock_guard<std::mutex> reading(reading_mutex_);
  std::vector<pid_t> pids;
  std::vector<ProcessEvent> events;
  std::vector<profd_python_code_seen> codes;
  uint64_t next_serial, oldest_unfinished;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pids.swap(new_pids_);
    events.swap(process_events_);
    codes.swap(new_python_codes_);
    next_serial = next_serial_;
    oldest_unfinished = unfinished_.empty() ? UINT64_MAX : *unfinished_.begin();
  }
  // One process at a time under processes_mutex_: a subscribing request reads its own between
  // them, not after the host's every new process.
  for (pid_t pid : pids) {
    std::lock_guard<std::mutex> lock(processes_mutex_);
    processes_.Sampled(pid, changes);
  }
  std::lock_guard<std::mutex> lock(processes_mutex_);
  // Before the exit notices: a process that exits now is still readable, or still known.
  if (!codes.empty()) python_.Learn(codes, processes_.table());
  const auto now = std::chrono::steady_clock::now();
  for (const ProcessEvent& event : events) processes_.Notice(event, now, nullptr, changes);
  // An exited process goes (and its Python names) once the subscriptions running when it exited
  // have copied it: a daemon that is never idle holds only the living, and the exits of the last
  // windows.
  for (const auto& [pid, start_ticks] : processes_.TakeExited())
    exited_.push_back({pid, start_ticks, next_serial});
  const size_t exited_before = exited_.size();
  std::erase_if(exited_, [&](const Exited& e) {
    if (e.serial > oldest_unfinished) return false;  // an older subscription may need it
    processes_.Forget(e.pid, e.start_ticks);
    return true;
  });
  if (exited_.size() != exited_before) python_.KeepOnly(processes_.table());
}

void SharedSampler::ApplyTableChanges(const UnwindTableChanges& changes) {
  // A few processes at a time: a request subscribing waits for a few table builds, not for all of
  // the host's new processes', while each group's new tables still go in with one RCU grace period.
  constexpr size_t kGroup = 8;
  for (size_t first = 0; first < changes.size(); first += kGroup) {
    std::lock_guard<std::mutex> lock(tables_mutex_);
    if (!tables_) return;  // unloaded: the tables went with it
    tables_->Apply(std::span(changes).subspan(first, std::min(kGroup, changes.size() - first)));
    PublishTablesStats();
  }
}

void SharedSampler::PublishTablesStats() {
  std::lock_guard<std::mutex> lock(tables_stats_mutex_);
  tables_stats_ = tables_ ? std::optional(tables_->stats()) : std::nullopt;
}

std::string SharedSampler::MetricsText() {
  std::array<uint64_t, PROFD_COUNTER_MAX> totals;
  size_t stacks_in_kernel, stacks_cached;
  bool is_loaded, is_sampling;
  uint64_t drained;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    totals = counters_of_unloaded_;
    if (collector_) {
      const std::array<uint64_t, PROFD_COUNTER_MAX> now = collector_->CounterTotals();
      for (int i = 0; i < PROFD_COUNTER_MAX; i++) totals[i] += now[i];
    }
    stacks_in_kernel = stacks_in_kernel_.size();
    stacks_cached = stacks_.size();
    is_loaded = collector_ && attached_;
    is_sampling = is_loaded && sampling_;
    drained = samples_drained_;
  }
  size_t processes_known, processes_exited;
  {
    std::lock_guard<std::mutex> lock(processes_mutex_);
    processes_known = processes_.table().size();
    processes_exited = exited_.size();
  }
  const size_t python_processes = python_.processes();
  StackSamples named;
  ReportCounters(totals, &named);
  auto metric = [](const std::string& name, const char* type, const char* help,
                   const std::string& value_lines) {
    return "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + value_lines;
  };
  auto line = [](const std::string& name, uint64_t value) {
    return name + " " + std::to_string(value) + "\n";
  };
  std::string drops;
  for (const DropCounter& drop : named.drops)
    drops += line("profd_sample_drops_total{cause=\"" + drop.name + "\"}", drop.count);
  std::string out = metric("profd_sampler_loaded", "gauge",
                           "Whether the shared CPU sampler's perf events are open.",
                           line("profd_sampler_loaded", is_loaded ? 1 : 0)) +
                    metric("profd_sampler_sampling", "gauge",
                           "Whether those perf events are enabled: a request wants samples.",
                           line("profd_sampler_sampling", is_sampling ? 1 : 0)) +
                    metric("profd_samples_total", "counter", "CPU samples the shared sampler took.",
                           line("profd_samples_total", named.events)) +
                    metric("profd_sample_keys_drained_total", "counter",
                           "Counts entries taken out of the kernel.",
                           line("profd_sample_keys_drained_total", drained)) +
                    metric("profd_sample_drops_total", "counter",
                           "Samples and stacks lost or damaged, by cause.", drops) +
                    metric("profd_stacks_map_entries", "gauge",
                           "Stacks in the kernel's map, about (pruned at 8192 of 16384).",
                           line("profd_stacks_map_entries", stacks_in_kernel)) +
                    metric("profd_stacks_cached", "gauge", "Stacks kept in userspace.",
                           line("profd_stacks_cached", stacks_cached)) +
                    metric("profd_sampler_processes", "gauge",
                           "Processes the shared sampler knows (their mappings, for symbolizing).",
                           line("profd_sampler_processes", processes_known)) +
                    metric("profd_sampler_exited_processes", "gauge",
                           "Of those, exited ones kept for the requests running when they exited.",
                           line("profd_sampler_exited_processes", processes_exited)) +
                    metric("profd_python_processes", "gauge",
                           "Python processes whose code objects' names are kept.",
                           line("profd_python_processes", python_processes));
  const Symbolizer::Stats s = symbolizers().user->stats();
  out += metric("profd_symbolizer_cache_hits_total", "counter",
                "Files found in the symbolizer's cache.",
                line("profd_symbolizer_cache_hits_total", s.cache_hits)) +
         metric("profd_symbolizer_cache_misses_total", "counter",
                "Files the symbolizer had to open and read.",
                line("profd_symbolizer_cache_misses_total", s.cache_misses)) +
         metric("profd_symbolizer_files_open", "gauge", "Files in the symbolizer's cache.",
                line("profd_symbolizer_files_open", s.files_open)) +
         metric("profd_symbolizer_bytes", "gauge",
                "About what the symbolizer's cached files hold (symbols, DWARF, its index).",
                line("profd_symbolizer_bytes", s.bytes_cached)) +
         metric("profd_symbolizer_addresses_total", "counter", "Addresses symbolized.",
                line("profd_symbolizer_addresses_total", s.addresses)) +
         metric("profd_symbolizer_addresses_unknown_total", "counter",
                "Addresses symbolized to nothing.",
                line("profd_symbolizer_addresses_unknown_total", s.addresses_unknown));
  return out;
}

void SharedSampler::QuietLocked() {
  collector_->SetSampling(false);
  DrainLocked();  // what came since the last drain, for nobody
  sampling_ = false;
  LogDebug("shared sampler quiet: no request wants samples");
}

void SharedSampler::PauseLocked() {
  collector_->Stop();
  DrainLocked();  // what came before the stop, for nobody
  // Processes are not watched while paused (no exec or exit notices): what is known of them goes,
  // and every process is read again as it is sampled after the next attach (the drain emptied the
  // counts map, so each one's first sample is new again).
  if (tables_) tables_->RemoveAll();
  processes_.Clear();
  exited_.clear();
  python_.KeepOnly(processes_.table());
  new_pids_.clear();
  process_events_.clear();
  new_python_codes_.clear();
  stacks_.clear();  // the ids stay in the kernel's map (stacks_in_kernel_), read again if seen
  attached_ = sampling_ = false;
}

void SharedSampler::UnloadLocked() {
  if (collector_) {
    const std::array<uint64_t, PROFD_COUNTER_MAX> now = collector_->CounterTotals();
    for (int i = 0; i < PROFD_COUNTER_MAX; i++) counters_of_unloaded_[i] += now[i];
  }
  processes_.Clear();
  exited_.clear();
  python_.KeepOnly(processes_.table());
  new_pids_.clear();
  process_events_.clear();
  new_python_codes_.clear();
  tables_.reset();
  PublishTablesStats();
  collector_.reset();
  attached_ = sampling_ = false;
  unload_when_idle_ = false;
  stacks_.clear();
  stacks_in_kernel_.clear();
}

}  // namespace profd
