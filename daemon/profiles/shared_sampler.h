// One host-wide stack collector that serves every concurrent request of its type: the daemon's CPU
// profiles of different pids (or of the host) share one set of perf events and BPF maps. A drain
// thread takes the counts out of the kernel every 200 ms and hands each sample to the
// subscriptions that want its process; it also keeps the process table and the unwind tables of
// the processes it sees. The collector is loaded with the first subscription and unloaded a while
// after the last one ends.
#ifndef PROFD_DAEMON_PROFILES_SHARED_SAMPLER_H
#define PROFD_DAEMON_PROFILES_SHARED_SAMPLER_H

#include <sys/types.h>

#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "collect/stack_collector.h"
#include "process/loaded_unwind_tables.h"
#include "process/process_table.h"
#include "profiles/profile_assembler.h"
#include "symbolizer.h"

namespace profd {

class SharedSampler {
 public:
  // `load` makes the host-wide collector (all processes); `dwarf_unwinding` as its options say.
  using Loader = std::function<std::unique_ptr<StackCollector>(std::string* error)>;
  SharedSampler(Loader load, bool dwarf_unwinding,
                std::chrono::seconds linger = std::chrono::seconds(30));
  ~SharedSampler();

  class Subscription;
  // Counts the samples of `pids` (every process when empty) from now on. Null with `error` set
  // when the collector cannot be loaded.
  std::shared_ptr<Subscription> Subscribe(const std::vector<pid_t>& pids, std::string* error);
  // Ends `subscription` and returns its samples, with the drops counted meanwhile.
  StackSamples Finish(const std::shared_ptr<Subscription>& subscription);

  // The process table the samples refer to, locked for as long as the lock is held (the drain
  // thread updates it).
  std::unique_lock<std::mutex> Lock() { return std::unique_lock<std::mutex>(mutex_); }
  ProcessTable& processes() { return processes_; }                // with Lock() held
  std::optional<LoadedUnwindTables::Stats> unwind_stats() const;  // with Lock() held

  // The symbolizers requests share, locked for as long as the lock is held.
  std::unique_lock<std::mutex> LockSymbolizer();
  Symbolizer& symbolizer() { return *symbolizer_; }     // with LockSymbolizer() held
  const KernelSymbolizer& kernel() { return kernel_; }  // with LockSymbolizer() held

  // Its /metrics lines: samples, drops by cause, the stacks map's fill, the symbolizer's cache.
  std::string MetricsText();

  bool loaded() const;
  uint64_t samples_drained() const;

 private:
  void DrainLoop(std::stop_token stop);
  void DrainLocked();
  void UnloadLocked();

  const Loader load_;
  const bool dwarf_unwinding_;
  const std::chrono::seconds linger_;
  mutable std::mutex mutex_;
  std::unique_ptr<StackCollector> collector_;
  std::unique_ptr<LoadedUnwindTables> tables_;
  ProcessTable processes_;
  std::unordered_map<uint64_t, StackTrace> stacks_;  // every stack drained, by id
  std::vector<uint64_t> stacks_in_kernel_;           // ids read since the kernel's map was pruned
  std::set<std::shared_ptr<Subscription>> subscriptions_;
  std::vector<pid_t> exited_;  // forgotten once no subscription can still need them
  std::chrono::steady_clock::time_point idle_since_;
  uint64_t samples_drained_ = 0;
  std::array<uint64_t, PROFD_COUNTER_MAX> counters_of_unloaded_{};  // totals of earlier loads
  std::mutex symbolizer_mutex_;
  std::unique_ptr<Symbolizer> symbolizer_ = std::make_unique<Symbolizer>(ProfileSymbolizerOptions());
  KernelSymbolizer kernel_;
  std::chrono::steady_clock::time_point kernel_loaded_{};
  std::jthread drain_thread_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_SHARED_SAMPLER_H
