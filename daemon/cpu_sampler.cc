#include "cpu_sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bpf_maps.h"
#include "bpf_support.h"
#include "cpu.skel.h"
#include "log.h"

namespace profd {
namespace {

int OpenCpuClock(int cpu, int64_t period_nanos) {
  perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  // A fixed period in nanoseconds, not a frequency: every sample then stands for exactly
  // period_nanos of CPU time, which is what cpu/nanoseconds reports.
  attr.sample_period = static_cast<uint64_t>(period_nanos);
  attr.freq = 0;
  return static_cast<int>(
      syscall(SYS_perf_event_open, &attr, /*pid=*/-1, cpu, /*group_fd=*/-1, PERF_FLAG_FD_CLOEXEC));
}

}  // namespace

std::unique_ptr<CpuSampler> CpuSampler::Load(const Options& options, std::string* error) {
  std::unique_ptr<CpuSampler> sampler(new CpuSampler());  // owns the skeleton from here on
  sampler->period_nanos_ = 1000000000LL / options.frequency_hz;

  sampler->skel_ = cpu_bpf__open();
  if (!sampler->skel_) {
    *error = DescribeBpfError("cannot open the CPU sampler's BPF object", errno);
    return nullptr;
  }
  cpu_bpf* skel = sampler->skel_;
  skel->rodata->filter_pids = !options.all_processes;
  skel->rodata->dwarf_unwinding = options.dwarf_unwinding;
  bpf_map__set_max_entries(skel->maps.stacks, options.max_stacks);
  bpf_map__set_max_entries(skel->maps.counts, options.max_counts);
  // The maps stay preallocated: allocating an entry in the timer interrupt the sampler runs in
  // fails now and then (measured: about 1 new stack in 250 lost with BPF_F_NO_PREALLOC).
  if (int err = cpu_bpf__load(skel)) {
    *error = DescribeBpfError("cannot load the CPU sampler's BPF programs", err);
    return nullptr;
  }

  const uint8_t one = 1;
  for (pid_t pid : options.pids) {
    uint32_t key = static_cast<uint32_t>(pid);
    if (bpf_map_update_elem(bpf_map__fd(skel->maps.target_pids), &key, &one, BPF_ANY) != 0) {
      *error = DescribeBpfError("cannot add pid " + std::to_string(pid) + " to the sampler", errno);
      return nullptr;
    }
  }

  return sampler;
}

CpuSampler::ProgramCost CpuSampler::program_cost() const {
  bpf_prog_info info = {};
  uint32_t length = sizeof(info);
  ProgramCost cost;
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.profd_cpu_sample), &info, &length) == 0) {
    cost.runs = info.run_cnt;
    cost.nanoseconds = info.run_time_ns;
  }
  return cost;
}

int CpuSampler::unwind_tables_fd() const { return bpf_map__fd(skel_->maps.unwind_tables); }
int CpuSampler::process_unwind_fd() const { return bpf_map__fd(skel_->maps.process_unwind); }

bool CpuSampler::Attach(std::string* error) {
  for (int cpu : OnlineCpus()) {
    int fd = OpenCpuClock(cpu, period_nanos_);
    if (fd < 0) {
      if (errno == ENODEV) continue;  // went offline meanwhile
      *error = DescribeBpfError("cannot open a CPU clock perf event on CPU " + std::to_string(cpu),
                                errno);
      return false;
    }
    perf_fds_.emplace_back(fd);
    bpf_link* link = bpf_program__attach_perf_event(skel_->progs.profd_cpu_sample, fd);
    if (!link) {
      *error =
          DescribeBpfError("cannot attach the CPU sampler on CPU " + std::to_string(cpu), errno);
      return false;
    }
    links_.push_back(link);
  }
  if (links_.empty()) {
    *error = "no online CPU could be sampled";
    return false;
  }
  for (bpf_program* program : {skel_->progs.profd_on_exec, skel_->progs.profd_on_exit}) {
    bpf_link* link = bpf_program__attach(program);
    if (!link) {
      *error = DescribeBpfError(std::string("cannot attach ") + bpf_program__name(program), errno);
      return false;
    }
    links_.push_back(link);
  }
  return true;
}

std::vector<CpuSampler::ProcessEvent> CpuSampler::TakeProcessEvents() {
  const int fd = bpf_map__fd(skel_->maps.process_events);
  std::vector<ProcessEvent> events;
  for (uint32_t pid : ReadMapKeys<uint32_t>(fd)) {
    uint8_t event = 0;
    if (bpf_map_lookup_elem(fd, &pid, &event) == 0)
      events.push_back({static_cast<pid_t>(pid), event == PROFD_PROCESS_EXIT});
    bpf_map_delete_elem(fd, &pid);
  }
  return events;
}

CpuSampler::~CpuSampler() {
  Stop();
  if (skel_) cpu_bpf__destroy(skel_);
}

void CpuSampler::Stop() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
  perf_fds_.clear();
}

std::vector<pid_t> CpuSampler::TakeSampledPids() {
  const int fd = bpf_map__fd(skel_->maps.sampled_pids);
  std::vector<pid_t> pids;
  for (uint32_t pid : ReadMapKeys<uint32_t>(fd)) {
    bpf_map_delete_elem(fd, &pid);
    pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

StackSamples CpuSampler::Collect() const {
  StackSamples out;
  const int counts_fd = bpf_map__fd(skel_->maps.counts);
  const int stacks_fd = bpf_map__fd(skel_->maps.stacks);
  for (const profd_sample_key& key : ReadMapKeys<profd_sample_key>(counts_fd)) {
    uint64_t count = 0;
    if (bpf_map_lookup_elem(counts_fd, &key, &count) != 0 || count == 0) continue;
    StackSample sample;
    sample.pid = key.pid;
    sample.tid = key.tid;
    sample.thread_comm.assign(key.thread_comm, strnlen(key.thread_comm, sizeof(key.thread_comm)));
    sample.user_stack_id = key.user_stack_id;
    sample.kernel_stack_id = key.kernel_stack_id;
    sample.values = {static_cast<int64_t>(count), static_cast<int64_t>(count) * period_nanos_};
    for (uint64_t id : {key.user_stack_id, key.kernel_stack_id}) {
      if (id && !out.stacks.count(id)) {
        StackTrace trace;
        if (ReadStack(stacks_fd, id, &trace)) out.stacks.emplace(id, std::move(trace));
      }
    }
    out.samples.push_back(std::move(sample));
  }
  ReportCounters(ReadCounters(bpf_map__fd(skel_->maps.counters)), &out);
  return out;
}

}  // namespace profd
