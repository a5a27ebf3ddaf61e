// What every BPF-based collector needs: libbpf's log routed into ours, the feature and privilege
// checks that turn a kernel's refusal into a message saying what is missing, and the list of online
// CPUs.
#ifndef PROFD_DAEMON_COLLECT_BPF_SUPPORT_H
#define PROFD_DAEMON_COLLECT_BPF_SUPPORT_H

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/unique_fd.h"

struct bpf_link;
struct bpf_program;

namespace profd {

// Routes libbpf's messages into profd's log (once per process).
void InstallLibbpfLogger();

// "" when this kernel and these privileges can run profd's BPF programs; otherwise what is missing
// and what to do about it.
std::string CheckBpfPrerequisites();

// Explains a failed libbpf call (negative errno) in terms of privileges and kernel features.
std::string DescribeBpfError(const std::string& what, int err);

// Parses a CPU list such as "0-3,5" (the format of /sys/devices/system/cpu/online).
std::vector<int> ParseCpuList(const std::string& text);
std::vector<int> OnlineCpus();

// perf_event_open of a software event (PERF_COUNT_SW_*) overflowing every `sample_period` events,
// on task `pid` (its children too with `inherit`) or on `cpu` (pid -1): the fd, or -1 with errno.
// `user_only`: overflows that land in kernel mode are dropped (exclude_kernel).
int OpenSoftwarePerfEvent(uint64_t config, uint64_t sample_period, pid_t pid, int cpu,
                          bool inherit, bool user_only = false);

// Attaches `program` to the perf event `event`. On success the link owns the event: libbpf closes
// it at bpf_link__destroy, so nobody else may (a second close would hit whatever descriptor another
// thread opened since under that number). On failure (null, errno set) the event is closed here.
bpf_link* AttachToPerfEvent(bpf_program* program, UniqueFd event);

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_BPF_SUPPORT_H
