#include "collect/stack_collector.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "collect/bpf_maps.h"
#include "collect/bpf_support.h"

namespace profd {

StackCollector::~StackCollector() { Stop(); }

void StackCollector::Stop() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
}

bool StackCollector::UseObject(bpf_object* object, const CollectorOptions& options,
                               std::string* error) {
  object_ = object;
  follow_forks_ = options.follow_forks;
  const std::vector<pid_t>& pids = options.pids;
  struct Wanted {
    const char* name;
    int* fd;
  } wanted[] = {
      {"counts", &counts_fd_},
      {"stacks", &stacks_fd_},
      {"counters", &counters_fd_},
      {"sampled_pids", &sampled_pids_fd_},
      {"process_events", &process_events_fd_},
      {"unwind_tables", &unwind_tables_fd_},
      {"process_unwind", &process_unwind_fd_},
  };
  for (const Wanted& w : wanted) {
    bpf_map* map = bpf_object__find_map_by_name(object, w.name);
    *w.fd = map ? bpf_map__fd(map) : -1;
    if (*w.fd < 0) {
      *error = std::string("internal error: the BPF object has no map ") + w.name;
      return false;
    }
  }
  if (options.unwind_maps && !UsesUnwindMaps(object, *options.unwind_maps)) {
    *error = "internal error: the BPF object did not take the unwind maps made for it";
    return false;
  }
  bpf_map* python = bpf_object__find_map_by_name(object, "python_processes");  // optional
  python_processes_fd_ = python ? bpf_map__fd(python) : -1;
  bpf_map* new_codes = bpf_object__find_map_by_name(object, "python_new_codes");
  python_new_codes_fd_ = new_codes ? bpf_map__fd(new_codes) : -1;
  bpf_map* targets = bpf_object__find_map_by_name(object, "target_pids");
  const uint8_t one = 1;
  for (pid_t pid : pids) {
    uint32_t key = static_cast<uint32_t>(pid);
    if (!targets || bpf_map_update_elem(bpf_map__fd(targets), &key, &one, BPF_ANY) != 0) {
      *error = DescribeBpfError("cannot add pid " + std::to_string(pid) + " to the targets", errno);
      return false;
    }
  }
  return true;
}

bool StackCollector::AttachProgram(bpf_program* program, std::string* error) {
  bpf_link* link = bpf_program__attach(program);
  if (!link) {
    *error = DescribeBpfError(std::string("cannot attach ") + bpf_program__name(program), errno);
    return false;
  }
  links_.push_back(link);
  return true;
}

bool StackCollector::AttachProcessEvents(std::string* error) {
  for (const char* name : {"profd_on_exec", "profd_on_exit", "profd_on_fork"}) {
    if (std::strcmp(name, "profd_on_fork") == 0 && !follow_forks_) continue;  // runs at every fork
    bpf_program* program = bpf_object__find_program_by_name(object_, name);
    if (!program) {
      *error = std::string("internal error: the BPF object has no program ") + name;
      return false;
    }
    if (!AttachProgram(program, error)) return false;
  }
  return true;
}

bool StackCollector::ReadStackTrace(uint64_t id, StackTrace* trace) const {
  return ReadStack(stacks_fd_, id, trace);
}

std::vector<pid_t> StackCollector::TakeSampledPids() {
  std::vector<pid_t> pids;
  for (uint32_t pid : ReadMapKeys<uint32_t>(sampled_pids_fd_)) {
    bpf_map_delete_elem(sampled_pids_fd_, &pid);
    pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

std::vector<ProcessEvent> StackCollector::TakeProcessEvents() {
  std::vector<ProcessEvent> events;
  for (uint32_t pid : ReadMapKeys<uint32_t>(process_events_fd_)) {
    uint8_t event = 0;
    if (bpf_map_lookup_elem(process_events_fd_, &pid, &event) == 0)
      events.push_back(
          {static_cast<pid_t>(pid), event == PROFD_PROCESS_EXIT, event == PROFD_PROCESS_FORK});
    bpf_map_delete_elem(process_events_fd_, &pid);
  }
  return events;
}

std::vector<profd_python_code_seen> StackCollector::TakeNewPythonCodes() {
  std::vector<profd_python_code_seen> codes;
  profd_python_code_seen code;
  while (python_new_codes_fd_ >= 0 &&
         bpf_map_lookup_and_delete_elem(python_new_codes_fd_, nullptr, &code) == 0)
    codes.push_back(code);
  return codes;
}

// One counts entry as a sample, its stacks read into `stacks` unless there already.
StackSample StackCollector::ToSample(const profd_sample_key& key, const profd_sample_value& value,
                                     std::unordered_map<uint64_t, StackTrace>* stacks) const {
  StackSample sample;
  sample.pid = key.pid;
  sample.tid = key.tid;
  sample.thread_comm.assign(key.thread_comm, strnlen(key.thread_comm, sizeof(key.thread_comm)));
  sample.user_stack_id = key.user_stack_id;
  sample.kernel_stack_id = key.kernel_stack_id;
  sample.values = {static_cast<int64_t>(value.count), static_cast<int64_t>(value.total)};
  for (uint64_t id : {key.user_stack_id, key.kernel_stack_id}) {
    if (id && !stacks->count(id)) {
      StackTrace trace;
      if (ReadStack(stacks_fd_, id, &trace)) stacks->emplace(id, std::move(trace));
    }
  }
  return sample;
}

StackSamples StackCollector::Collect() const {
  StackSamples out;
  for (const profd_sample_key& key : ReadMapKeys<profd_sample_key>(counts_fd_)) {
    profd_sample_value value = {};
    if (bpf_map_lookup_elem(counts_fd_, &key, &value) != 0 || value.count == 0) continue;
    out.samples.push_back(ToSample(key, value, &out.stacks));
  }
  ReportCounters(ReadCounters(counters_fd_), &out);
  return out;
}

std::vector<StackSample> StackCollector::Drain(std::unordered_map<uint64_t, StackTrace>* cache) {
  std::vector<StackSample> out;
  for (const profd_sample_key& key : ReadMapKeys<profd_sample_key>(counts_fd_)) {
    profd_sample_value value = {};
    if (bpf_map_lookup_and_delete_elem(counts_fd_, &key, &value) != 0 || value.count == 0) continue;
    out.push_back(ToSample(key, value, cache));
  }
  return out;
}

void StackCollector::ForgetStacks(const std::vector<uint64_t>& ids) {
  for (uint64_t id : ids) bpf_map_delete_elem(stacks_fd_, &id);
}

std::array<uint64_t, PROFD_COUNTER_MAX> StackCollector::CounterTotals() const {
  return ReadCounters(counters_fd_);
}

StackCollector::ProgramCost StackCollector::program_cost() const {
  ProgramCost cost;
  bpf_program* program;
  bpf_object__for_each_program(program, object_) {
    bpf_prog_info info = {};
    uint32_t length = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &length) == 0) {
      cost.runs += info.run_cnt;
      cost.nanoseconds += info.run_time_ns;
    }
  }
  return cost;
}

}  // namespace profd
