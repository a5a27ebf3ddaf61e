// Uprobe session links: one BPF_LINK_CREATE (uprobe_multi, session mode) putting a program on many
// offsets of one file at once, which Debian 12's libbpf 1.1 cannot make.
#ifndef PROFD_DAEMON_COLLECT_HEAP_SESSION_PROBES_H
#define PROFD_DAEMON_COLLECT_HEAP_SESSION_PROBES_H

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/unique_fd.h"

struct bpf_program;

namespace profd {

// BPF_TRACE_UPROBE_SESSION (Linux 6.13), which Debian 12's linux/bpf.h predates: the attach type of
// the programs these links run.
constexpr uint32_t kBpfTraceUprobeSession = 57;

// One link putting `program` on every offset of `path` for process `pid` (-1: every process). All
// its breakpoints go at once when the fd is closed, with a single wait for running handlers.
UniqueFd AttachSessionProbes(bpf_program* program, const std::string& path,
                             const std::vector<uint64_t>& offsets,
                             const std::vector<uint64_t>& cookies, pid_t pid);
// The same for a loaded program's fd.
UniqueFd AttachSessionProbes(int program_fd, const std::string& path,
                             const std::vector<uint64_t>& offsets,
                             const std::vector<uint64_t>& cookies, pid_t pid);

// The message for a failed attach: `what`, and the kernel it needs when the kernel has no session
// links.
std::string DescribeAttachError(const std::string& what, int err);

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_HEAP_SESSION_PROBES_H
