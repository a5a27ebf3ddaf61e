#include "profiles/shared_sampler.h"

#include <malloc.h>

#include <condition_variable>

#include "base/log.h"
#include "collect/bpf_maps.h"

namespace profd {

class SharedSampler::Subscription {
 public:
  std::set<pid_t> pids;  // empty: every process
  std::array<uint64_t, PROFD_COUNTER_MAX> counters_at_start{};
  // Samples merged by key, as the kernel's counts map would have them.
  std::map<std::tuple<uint32_t, uint32_t, std::string, uint64_t, uint64_t>, StackSample> samples;
  std::unordered_map<uint64_t, StackTrace> stacks;

  bool Wants(uint32_t pid) const { return pids.empty() || pids.count(static_cast<pid_t>(pid)); }
};

namespace {

// The kernel's stacks map holds 16384 stacks; pruned at half, so it never fills.
constexpr size_t kPruneStacksAt = 8192;
// The userspace copy of stacks is dropped when it grows past this (ids are content hashes, so a
// stack read again is the same stack).
constexpr size_t kMaxCachedStacks = 200000;

}  // namespace

SharedSampler::SharedSampler(Loader load, bool dwarf_unwinding, std::chrono::seconds linger)
    : load_(std::move(load)), dwarf_unwinding_(dwarf_unwinding), linger_(linger) {
  drain_thread_ = std::jthread([this](std::stop_token stop) { DrainLoop(stop); });
}

SharedSampler::~SharedSampler() {
  drain_thread_.request_stop();
  drain_thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  UnloadLocked();
}

std::unique_lock<std::mutex> SharedSampler::LockSymbolizer() {
  std::unique_lock<std::mutex> lock(symbolizer_mutex_);
  // kallsyms changes when modules load: read again at most once a minute.
  const auto now = std::chrono::steady_clock::now();
  if (now - kernel_loaded_ > std::chrono::minutes(1)) {
    KernelSymbolizer fresh;
    std::string error;
    if (fresh.Load("/proc/kallsyms", &error)) {
      kernel_ = std::move(fresh);
    } else {
      LogWarning("kernel frames stay unsymbolized: " + error);
    }
    kernel_loaded_ = now;
  }
  return lock;
}

bool SharedSampler::loaded() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return collector_ != nullptr;
}

uint64_t SharedSampler::samples_drained() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return samples_drained_;
}

std::optional<LoadedUnwindTables::Stats> SharedSampler::unwind_stats() const {
  if (!tables_ || !dwarf_unwinding_) return std::nullopt;
  return tables_->stats();
}

std::shared_ptr<SharedSampler::Subscription> SharedSampler::Subscribe(
    const std::vector<pid_t>& pids, std::string* error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!collector_) {
    collector_ = load_(error);
    if (!collector_) return nullptr;
    tables_ = std::make_unique<LoadedUnwindTables>(collector_->unwind_tables_fd(),
                                                   collector_->process_unwind_fd());
    if (!collector_->Attach(error)) {
      collector_.reset();
      tables_.reset();
      return nullptr;
    }
    LogInfo("shared sampler loaded");
  }
  // What was counted before this subscription belongs to the others.
  DrainLocked();
  auto subscription = std::make_shared<Subscription>();
  subscription->pids.insert(pids.begin(), pids.end());
  subscription->counters_at_start = collector_->CounterTotals();
  for (pid_t pid : pids) {
    if (processes_.Find(pid) ? processes_.Refresh(pid) : processes_.Observe(pid))
      if (const ProcessInfo* process = processes_.Find(pid); process && dwarf_unwinding_)
        tables_->AddProcess(*process);
  }
  subscriptions_.insert(subscription);
  return subscription;
}

StackSamples SharedSampler::Finish(const std::shared_ptr<Subscription>& subscription) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (collector_) DrainLocked();
  StackSamples out;
  for (auto& [key, sample] : subscription->samples) out.samples.push_back(std::move(sample));
  out.stacks = std::move(subscription->stacks);
  if (collector_) {
    std::array<uint64_t, PROFD_COUNTER_MAX> delta = collector_->CounterTotals();
    for (int i = 0; i < PROFD_COUNTER_MAX; i++) delta[i] -= subscription->counters_at_start[i];
    ReportCounters(delta, &out);
  }
  LogDebug("shared sampler: a subscription ends with " + std::to_string(out.samples.size()) +
           " sample keys (" + std::to_string(out.events) + " samples taken host-wide meanwhile)");
  subscriptions_.erase(subscription);
  if (subscriptions_.empty()) idle_since_ = std::chrono::steady_clock::now();
  return out;
}

void SharedSampler::DrainLoop(std::stop_token stop) {
  std::mutex wait_mutex;
  std::condition_variable_any wake;
  while (!stop.stop_requested()) {
    {
      std::unique_lock<std::mutex> wait_lock(wait_mutex);
      wake.wait_for(wait_lock, stop, std::chrono::milliseconds(200), [] { return false; });
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!collector_) continue;
    DrainLocked();
    // Nobody has asked for a while: the perf events and maps go (the next request reloads them).
    if (subscriptions_.empty() && std::chrono::steady_clock::now() - idle_since_ > linger_) {
      UnloadLocked();
      {
        // Its DWARF caches go too, and the freed memory back to the system: an idle daemon stays
        // small between the schedule's rounds.
        std::lock_guard<std::mutex> symbolizing(symbolizer_mutex_);
        symbolizer_ = std::make_unique<Symbolizer>(ProfileSymbolizerOptions());
      }
      malloc_trim(0);
      LogInfo("shared sampler unloaded: no requests for " + std::to_string(linger_.count()) + "s");
    }
  }
}

void SharedSampler::DrainLocked() {
  // New processes: their mappings and unwind tables while they are alive.
  for (pid_t pid : collector_->TakeSampledPids())
    if (!processes_.Find(pid) && processes_.Observe(pid) && dwarf_unwinding_)
      tables_->AddProcess(*processes_.Find(pid));
  for (const StackCollector::ProcessEvent& event : collector_->TakeProcessEvents()) {
    if (!processes_.Find(event.pid)) continue;
    if (event.exited) {
      tables_->RemoveProcess(event.pid);
      exited_.push_back(event.pid);  // its samples still symbolize until the running requests end
    } else if (processes_.Refresh(event.pid) && dwarf_unwinding_)
      tables_->AddProcess(*processes_.Find(event.pid));
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
  if (stacks_in_kernel_.size() > kPruneStacksAt) {
    std::sort(stacks_in_kernel_.begin(), stacks_in_kernel_.end());
    stacks_in_kernel_.erase(std::unique(stacks_in_kernel_.begin(), stacks_in_kernel_.end()),
                            stacks_in_kernel_.end());
    collector_->ForgetStacks(stacks_in_kernel_);
    stacks_in_kernel_.clear();
  }
  if (stacks_.size() > kMaxCachedStacks) stacks_.clear();
  // Between requests, exited processes go: a long-running daemon holds only the living.
  if (subscriptions_.empty()) {
    for (pid_t pid : exited_) processes_.Forget(pid);
    exited_.clear();
  }
}

std::string SharedSampler::MetricsText() {
  std::array<uint64_t, PROFD_COUNTER_MAX> totals;
  size_t stacks_in_kernel, stacks_cached;
  bool is_loaded;
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
    is_loaded = collector_ != nullptr;
    drained = samples_drained_;
  }
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
                           line("profd_stacks_cached", stacks_cached));
  std::lock_guard<std::mutex> lock(symbolizer_mutex_);
  const Symbolizer::Stats s = symbolizer_->stats();
  out += metric("profd_symbolizer_cache_hits_total", "counter",
                "Files found in the symbolizer's cache.",
                line("profd_symbolizer_cache_hits_total", s.cache_hits)) +
         metric("profd_symbolizer_cache_misses_total", "counter",
                "Files the symbolizer had to open and read.",
                line("profd_symbolizer_cache_misses_total", s.cache_misses)) +
         metric("profd_symbolizer_files_open", "gauge", "Files in the symbolizer's cache.",
                line("profd_symbolizer_files_open", s.files_open)) +
         metric("profd_symbolizer_addresses_total", "counter", "Addresses symbolized.",
                line("profd_symbolizer_addresses_total", s.addresses)) +
         metric("profd_symbolizer_addresses_unknown_total", "counter",
                "Addresses symbolized to nothing.",
                line("profd_symbolizer_addresses_unknown_total", s.addresses_unknown));
  return out;
}

void SharedSampler::UnloadLocked() {
  if (collector_) {
    const std::array<uint64_t, PROFD_COUNTER_MAX> now = collector_->CounterTotals();
    for (int i = 0; i < PROFD_COUNTER_MAX; i++) counters_of_unloaded_[i] += now[i];
  }
  processes_ = ProcessTable();
  exited_.clear();
  tables_.reset();
  collector_.reset();
  stacks_.clear();
  stacks_in_kernel_.clear();
}

}  // namespace profd
