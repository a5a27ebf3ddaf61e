#include "collect/wait/wait_collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "collect/bpf_maps.h"
#include "collect/bpf_support.h"
#include "process/proc_files.h"

namespace profd {
namespace {

// A context-switch event overflowing at every switch, so the program runs at each switch-out of
// the task (and of the threads it creates, which inherit it) or of every task on `cpu`.
int OpenSwitchEvent(pid_t tid, int cpu) {
  return OpenSoftwarePerfEvent(PERF_COUNT_SW_CONTEXT_SWITCHES, 1, tid, cpu, /*inherit=*/tid >= 0);
}

uint64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns's clock
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

bool WaitCollector::UseWaitObject(bpf_object* object, bpf_program* program,
                                  const CollectorOptions& options, uint64_t min_wait_nanos,
                                  std::string* error) {
  if (!UseObject(object, options, error)) return false;
  bpf_map* map = bpf_object__find_map_by_name(object, "thread_switches");
  thread_switches_fd_ = map ? bpf_map__fd(map) : -1;
  if (thread_switches_fd_ < 0) {
    *error = "internal error: the BPF object has no map thread_switches";
    return false;
  }
  program_ = program;
  options_ = options;
  min_wait_nanos_ = min_wait_nanos;
  return true;
}

bool WaitCollector::AttachToEvent(UniqueFd fd, const std::string& what, std::string* error) {
  bpf_link* link = AttachToPerfEvent(program_, std::move(fd));
  if (!link) {
    *error = DescribeBpfError("cannot attach " + std::string(bpf_program__name(program_)) + " to " +
                                  what + "'s context-switch event",
                              errno);
    return false;
  }
  links_.push_back(link);
  return true;
}

bool WaitCollector::OpenThreadEvent(pid_t tid, std::string* error) {
  UniqueFd fd(OpenSwitchEvent(tid, -1));
  if (!fd.valid()) {
    if (errno == ESRCH) return true;  // the thread has exited meanwhile
    *error = DescribeBpfError(
        "cannot open a context-switch perf event on thread " + std::to_string(tid), errno);
    return false;
  }
  return AttachToEvent(std::move(fd), "thread " + std::to_string(tid), error);
}

bool WaitCollector::OpenCpuEvent(int cpu, std::string* error) {
  UniqueFd fd(OpenSwitchEvent(-1, cpu));
  if (!fd.valid()) {
    if (errno == ENODEV) return true;  // went offline meanwhile
    *error = DescribeBpfError(
        "cannot open a context-switch perf event on CPU " + std::to_string(cpu), errno);
    return false;
  }
  return AttachToEvent(std::move(fd), "CPU " + std::to_string(cpu), error);
}

Result<void> WaitCollector::Attach() {
  std::string error;
  if (options_.all_processes) {
    for (int cpu : OnlineCpus())
      if (!OpenCpuEvent(cpu, &error)) return Error{error};
  } else {
    // A thread created after its creator's event was opened inherits it; if it is listed too, it
    // has two, and the program ignores the second run (switch_out.bpf.h).
    if (!ForEachNewThread(options_.pids, &threads_,
                          [&](pid_t tid) { return OpenThreadEvent(tid, &error); }))
      return Error{error};
  }
  if (links_.empty())
    return Error{options_.all_processes ? "no online CPU could be watched"
                                        : "the target processes have no threads left to watch"};
  bpf_program* forget = bpf_object__find_program_by_name(object_, "profd_forget_thread");
  if (!forget) return Error{"internal error: the BPF object has no program profd_forget_thread"};
  if (!AttachProgram(forget, &error) || !AttachProcessEvents(&error)) return Error{error};
  return {};
}

void WaitCollector::Stop() {
  const bool was_attached = !links_.empty();
  StackCollector::Stop();  // first, so that no wait is charged both by BPF and here
  if (!stopped_ && was_attached)
    finished_at_stop_.samples = FinishedWaits(&finished_at_stop_.stacks);
  stopped_ = true;
}

std::vector<std::string> WaitCollector::Notes() const {
  if (options_.all_processes) return {"switch-outs watched on every CPU"};
  return {"switch-outs watched on " + std::to_string(threads_.size()) +
          " threads (and the threads they created)"};
}

// A wait is charged at its thread's next switch-out; one whose thread has woken and not been
// switched out since is charged here, from the thread's state and CPU time. A thread still asleep
// has not finished its wait, and (as in Go's block profile) an unfinished wait is not counted.
std::vector<StackSample> WaitCollector::FinishedWaits(
    std::unordered_map<uint64_t, StackTrace>* stacks) const {
  std::vector<StackSample> out;
  const uint64_t now = MonotonicNanos();
  for (uint32_t tid : ReadMapKeys<uint32_t>(thread_switches_fd_)) {
    profd_thread_switch t = {};
    if (bpf_map_lookup_elem(thread_switches_fd_, &tid, &t) != 0 || !t.waiting) continue;
    if (ThreadState(t.pid, tid) != 'R') continue;
    const uint64_t exec = ThreadRunNanos(t.pid, tid);
    const uint64_t elapsed = now > t.wait_since_nanos ? now - t.wait_since_nanos : 0;
    const uint64_t ran = exec > t.wait_exec_nanos ? exec - t.wait_exec_nanos : 0;
    const uint64_t waited = elapsed > ran ? elapsed - ran : 0;
    if (waited < min_wait_nanos_ || waited == 0) continue;
    profd_sample_key key = {};
    key.pid = t.pid;
    key.tid = tid;
    key.user_stack_id = t.user_stack_id;
    key.kernel_stack_id = t.kernel_stack_id;
    const std::string comm = ThreadComm(t.pid, tid);
    std::memcpy(key.thread_comm, comm.data(), std::min(comm.size(), sizeof(key.thread_comm) - 1));
    out.push_back(ToSample(key, profd_sample_value{1, waited}, stacks));
  }
  return out;
}

StackSamples WaitCollector::Collect() const {
  StackSamples out = StackCollector::Collect();
  if (stopped_) {
    out.samples.insert(out.samples.end(), finished_at_stop_.samples.begin(),
                       finished_at_stop_.samples.end());
    out.stacks.insert(finished_at_stop_.stacks.begin(), finished_at_stop_.stacks.end());
  } else {
    std::vector<StackSample> finished = FinishedWaits(&out.stacks);
    out.samples.insert(out.samples.end(), finished.begin(), finished.end());
  }
  return out;
}

}  // namespace profd
