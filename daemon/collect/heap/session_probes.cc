#include "collect/heap/session_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "collect/bpf_support.h"

namespace profd {
namespace {

// BPF_LINK_CREATE's attributes for uprobe_multi links (Linux 6.6; session mode 6.13), which
// Debian 12's linux/bpf.h and libbpf 1.1 predate: the kernel's layout, fixed by its ABI.
struct UprobeMultiLinkAttr {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint64_t path;
  uint64_t offsets;
  uint64_t ref_ctr_offsets;
  uint64_t cookies;
  uint32_t count;
  uint32_t multi_flags;
  uint32_t pid;
  uint32_t reserved;
};
static_assert(sizeof(UprobeMultiLinkAttr) == 64);

}  // namespace

UniqueFd AttachSessionProbes(int program_fd, const std::string& path,
                             const std::vector<uint64_t>& offsets,
                             const std::vector<uint64_t>& cookies, pid_t pid) {
  UprobeMultiLinkAttr attr = {};
  attr.prog_fd = static_cast<uint32_t>(program_fd);
  attr.attach_type = kBpfTraceUprobeSession;
  attr.path = reinterpret_cast<uint64_t>(path.c_str());
  attr.offsets = reinterpret_cast<uint64_t>(offsets.data());
  attr.cookies = cookies.empty() ? 0 : reinterpret_cast<uint64_t>(cookies.data());
  attr.count = static_cast<uint32_t>(offsets.size());
  attr.pid = static_cast<uint32_t>(pid);
  return UniqueFd(static_cast<int>(syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr))));
}

UniqueFd AttachSessionProbes(bpf_program* program, const std::string& path,
                             const std::vector<uint64_t>& offsets,
                             const std::vector<uint64_t>& cookies, pid_t pid) {
  return AttachSessionProbes(bpf_program__fd(program), path, offsets, cookies, pid);
}

std::string DescribeAttachError(const std::string& what, int err) {
  if (err == EINVAL || err == EOPNOTSUPP)
    return what + ": the kernel rejected a uprobe session link (" + std::strerror(err) +
           "); heap and allocs profiles need Linux 6.13 or later";
  return DescribeBpfError(what, err);
}

}  // namespace profd
