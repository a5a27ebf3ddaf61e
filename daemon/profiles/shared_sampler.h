// One host-wide stack collector that serves every concurrent request of its type: the daemon's CPU
// profiles of different pids (or of the host) share one set of perf events and BPF maps. A drain
// thread takes the counts out of the kernel every 200 ms (and at once when a subscription ends) and
// hands each sample to the subscriptions that want its process; it alone drains, so requests
// starting and ending together do not wait behind each other's drains; it also keeps the process
// table and the unwind tables of the processes it sees. The collector is loaded with the first
// subscription. When the last one ends its timers stop (no sample is taken for nobody), while
// exec and exit notices keep the processes and tables it knows true, so the schedule's next round
// does not build their tables again (its parsed symbols go after 30 s, for memory); `linger`
// idle its perf events close and what it knew of processes goes, but its BPF programs and maps
// stay loaded for the next (loading and verifying them cost the idle daemon more CPU than the
// rest of a schedule's round); `unload_after` idle they go too, or once idle after
// UnloadWhenIdle.
#ifndef PROFD_DAEMON_PROFILES_SHARED_SAMPLER_H
#define PROFD_DAEMON_PROFILES_SHARED_SAMPLER_H

#include <sys/types.h>

#include <array>
#include <chrono>
#include <condition_variable>
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
#include "process/process_tracker.h"
#include "profiles/profile_assembler.h"
#include "profiles/python_frames.h"
#include "symbolizer.h"

namespace profd {

class SharedSampler {
 public:
  // `load` makes the host-wide collector (all processes); `dwarf_unwinding` as its options say.
  using Loader = std::function<Result<std::unique_ptr<StackCollector>>()>;
  SharedSampler(Loader load, bool dwarf_unwinding,
                std::chrono::seconds linger = std::chrono::seconds(150),
                std::chrono::seconds unload_after = std::chrono::minutes(10));
  ~SharedSampler();

  class Subscription;
  // Counts the samples of `pids` (every process when empty) from `start` on, the last drain (at
  // most 200 ms ago). Null with `error` set when the collector cannot be loaded.
  std::shared_ptr<Subscription> Subscribe(const std::vector<pid_t>& pids,
                                          std::chrono::steady_clock::time_point* start,
                                          std::string* error);
  // Ends `subscription` and returns its samples, with the drops counted meanwhile; `processes` set
  // to a copy of what the samples refer to (the processes it wanted, every process sampled so far
  // read in), `python` to the names of their Python code objects and `unwind` to the unwind
  // tables' stats. After it the sampler may forget the processes that exited in the window.
  StackSamples Finish(const std::shared_ptr<Subscription>& subscription, ProcessTable* processes,
                      std::unique_ptr<PythonFrameNames>* python,
                      std::optional<LoadedUnwindTables::Stats>* unwind);

  // The symbolizers requests share, for use by several at once (the Symbolizer locks its cache and
  // each file; kallsyms is read-only once loaded). A request keeps the ones it was given while the
  // sampler's unloading or a kallsyms reload replaces them for later requests.
  struct Symbolizers {
    std::shared_ptr<Symbolizer> user;
    std::shared_ptr<const KernelSymbolizer> kernel;
  };
  Symbolizers symbolizers();

  // Its /metrics lines: samples, drops by cause, the stacks map's fill, the symbolizer's cache.
  std::string MetricsText();

  // A copy of the process table for `pids` (every process when empty), as known now.
  ProcessTable Processes(const std::vector<pid_t>& pids) const;

  // The settings `load` reads have changed: the collector is unloaded as soon as no subscription
  // uses it, so that the next one loads it with them.
  void UnloadWhenIdle();

  bool loaded() const;  // its perf events are open
  // What its collector says of how it samples (StackCollector::Notes); none when not loaded.
  std::vector<std::string> CollectorNotes() const;
  uint64_t samples_drained() const;

 private:
  void DrainLoop(std::stop_token stop);
  // The tables thread: reads the processes the drains found new and builds their unwind tables,
  // apart from the drain thread, so a request's last drain never waits behind table builds (on a
  // host with every core busy they took seconds, and 17 of 50 requests answered 3.4 s late).
  void TablesLoop(std::stop_token stop);
  Result<void> LoadLocked();
  void PauseLocked();
  // Nobody wants samples: its timers stop, and what was counted since the last drain goes.
  void QuietLocked();
  void DrainLocked();
  // Reads the new processes (and exec'ed ones) into the tracker, taking processes_mutex_ for each,
  // and says what the unwind tables must learn; ApplyTableChanges tells them.
  void ReadNewProcesses(UnwindTableChanges* changes);
  std::mutex reading_mutex_;  // held through ReadNewProcesses
  void ApplyTableChanges(const UnwindTableChanges& changes);
  void UnloadLocked();

  const Loader load_;
  const bool dwarf_unwinding_;
  const std::chrono::seconds linger_;
  const std::chrono::seconds unload_after_;
  // Two locks: mutex_ for the collector, its samples and the subscriptions; processes_mutex_ for
  // what is read from /proc and the unwind tables built from it. Reading a new process's mappings
  // (and building its tables) takes milliseconds, and 50 requests subscribing and ending waited
  // behind every such read when one lock held both. Nested only as processes_mutex_ then mutex_,
  // or all at once (std::scoped_lock).
  mutable std::mutex mutex_;
  std::unique_ptr<StackCollector> collector_;
  bool attached_ = false;      // collector_'s perf events are open (else it is paused)
  bool sampling_ = false;      // and enabled: a subscription wants samples (else it is quiet)
  bool symbols_kept_ = false;  // the symbolizer was used since it was last replaced
  bool unload_when_idle_ = false;
  // Taken from the collector under mutex_, read under processes_mutex_ alone.
  std::vector<pid_t> new_pids_;
  std::vector<ProcessEvent> process_events_;
  std::vector<profd_python_code_seen> new_python_codes_;
  mutable std::mutex processes_mutex_;
  // The unwind tables, built from what processes_mutex_ guards but not under it (building a
  // table takes milliseconds); replaced with collector_ under all three locks.
  std::mutex tables_mutex_;
  std::unique_ptr<LoadedUnwindTables> tables_;
  // A copy of tables_'s stats, for requests to read without waiting for a table build.
  void PublishTablesStats();  // with tables_mutex_
  std::mutex tables_stats_mutex_;
  std::optional<LoadedUnwindTables::Stats> tables_stats_;
  // The processes sampled (host-wide: no forks followed, no re-reads after an exec); exited ones
  // are forgotten once no subscription needs them: each exit is stamped with the serial the next
  // subscription will get, and goes once every subscription older than it has finished.
  ProcessTracker processes_;
  struct Exited {
    pid_t pid;
    uint64_t start_ticks;
    uint64_t serial;
  };
  std::vector<Exited> exited_;
  // The Python code objects the samples met, read while their processes lived (a process that
  // exits during a window keeps its names); each request gets a copy of its processes' names.
  PythonFrameNames python_;  // locks itself; kept for the processes processes_ holds
  std::unordered_map<uint64_t, StackTrace> stacks_;  // every stack drained, by id
  std::vector<uint64_t> stacks_in_kernel_;           // ids read since the kernel's map was pruned
  std::set<std::shared_ptr<Subscription>> subscriptions_;
  size_t finishing_ = 0;  // subscriptions drained for the last time, their processes not copied
  uint64_t next_serial_ = 1;
  std::multiset<uint64_t> unfinished_;  // serials of the subscriptions not finished
  std::chrono::steady_clock::time_point last_drain_;
  bool drain_requested_ = false;
  std::condition_variable_any wake_;         // the drain thread, for drain_requested_
  std::condition_variable drained_;          // Finish, for its subscription's last drain
  bool new_processes_ = false;               // a drain found new processes, execs or exits
  std::condition_variable_any tables_wake_;  // the tables thread, for new_processes_
  std::chrono::steady_clock::time_point idle_since_;
  uint64_t samples_drained_ = 0;
  std::array<uint64_t, PROFD_COUNTER_MAX> counters_of_unloaded_{};  // totals of earlier loads
  std::mutex symbolizer_mutex_;  // guards the two pointers, not their use
  std::shared_ptr<Symbolizer> symbolizer_ =
      std::make_shared<Symbolizer>(ProfileSymbolizerOptions());
  std::shared_ptr<const KernelSymbolizer> kernel_ = std::make_shared<KernelSymbolizer>();
  std::chrono::steady_clock::time_point kernel_checked_{};  // when kallsyms was last weighed
  std::chrono::steady_clock::time_point kernel_loaded_{};
  std::string kernel_modules_;  // /proc/modules when kallsyms was read
  std::jthread drain_thread_;
  std::jthread tables_thread_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_SHARED_SAMPLER_H
