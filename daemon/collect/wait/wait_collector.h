// What the block and mutex collectors share (bpf/switch_out.bpf.h): their program runs on a
// context-switch software event of each target thread, so it runs only when a target thread leaves
// a CPU and costs the rest of the host nothing. With --all it runs on one such event per CPU
// instead.
#ifndef PROFD_DAEMON_COLLECT_WAIT_WAIT_COLLECTOR_H
#define PROFD_DAEMON_COLLECT_WAIT_WAIT_COLLECTOR_H

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "collect/stack_collector.h"

namespace profd {

class WaitCollector : public StackCollector {
 public:
  // Opens the events and attaches the program to each: one per target thread (inherited by the
  // threads it creates) or, for every process, one per online CPU.
  Result<void> Attach() override;
  // Detaches, then charges the waits that ended after their thread's last switch-out.
  void Stop() override;
  // What BPF counted, plus the waits that have ended but not yet been charged.
  StackSamples Collect() const override;

  std::vector<std::string> Notes() const override;

 protected:
  WaitCollector() = default;
  // After the subclass loaded its object: where the program and its per-thread map are.
  bool UseWaitObject(bpf_object* object, bpf_program* program, const CollectorOptions& options,
                     uint64_t min_wait_nanos, std::string* error);

 private:
  bool OpenThreadEvent(pid_t tid, std::string* error);
  bool OpenCpuEvent(int cpu, std::string* error);
  bool AttachToEvent(UniqueFd fd, const std::string& what, std::string* error);
  std::vector<StackSample> FinishedWaits(std::unordered_map<uint64_t, StackTrace>* stacks) const;

  bpf_program* program_ = nullptr;
  CollectorOptions options_;
  uint64_t min_wait_nanos_ = 0;
  int thread_switches_fd_ = -1;
  std::set<pid_t> threads_;
  bool stopped_ = false;
  StackSamples finished_at_stop_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_WAIT_WAIT_COLLECTOR_H
