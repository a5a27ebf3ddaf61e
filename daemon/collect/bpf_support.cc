#include "collect/bpf_support.h"

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/log.h"

namespace profd {
namespace {

int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  // Verifier logs come as one message of many kilobytes: sized, not cut.
  va_list copy;
  va_copy(copy, args);
  const int length = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (length <= 0) return 0;
  std::string message(static_cast<size_t>(length) + 1, '\0');
  std::vsnprintf(message.data(), message.size(), format, args);
  message.resize(static_cast<size_t>(length));
  while (!message.empty() && message.back() == '\n') message.pop_back();
  Log(level == LIBBPF_WARN ? LogLevel::kWarning : LogLevel::kDebug, "libbpf: " + message);
  return 0;
}

bool HasCapability(int cap) {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return data[cap / 32].effective & (1u << (cap % 32));
}

}  // namespace

void InstallLibbpfLogger() { libbpf_set_print(LibbpfPrint); }

std::string CheckBpfPrerequisites() {
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): profd's BPF programs need "
           "a "
           "kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian's kernels have it)";
  constexpr int kCapPerfmon = 38, kCapBpf = 39;
  const bool bpf_ok = HasCapability(kCapBpf) || HasCapability(CAP_SYS_ADMIN);
  const bool perfmon_ok = HasCapability(kCapPerfmon) || HasCapability(CAP_SYS_ADMIN);
  if (!bpf_ok || !perfmon_ok) {
    std::string missing = !bpf_ok && !perfmon_ok ? "CAP_BPF and CAP_PERFMON"
                          : !bpf_ok              ? "CAP_BPF"
                                                 : "CAP_PERFMON";
    return "missing privileges: profd needs " + missing +
           " (and CAP_SYS_PTRACE to read other users' processes); run it as root, e.g. with sudo";
  }
  return "";
}

std::string DescribeBpfError(const std::string& what, int err) {
  if (err < 0) err = -err;
  std::string message = what + ": " + std::strerror(err);
  if (err == EPERM || err == EACCES)
    message += " — the kernel refused: run profd as root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN)";
  else if (err == ENOENT || err == EINVAL || err == EOPNOTSUPP)
    message +=
        " — this kernel may lack a needed BPF feature (see the README's requirements; run "
        "with --verbose for libbpf's log)";
  return message;
}

std::vector<int> ParseCpuList(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    int first, last;
    if (std::sscanf(part.c_str(), "%d-%d", &first, &last) == 2) {
      for (int c = first; c <= last; c++) cpus.push_back(c);
    } else if (std::sscanf(part.c_str(), "%d", &first) == 1) {
      cpus.push_back(first);
    }
  }
  return cpus;
}

int OpenSoftwarePerfEvent(uint64_t config, uint64_t sample_period, pid_t pid, int cpu,
                          bool inherit, bool user_only) {
  perf_event_attr attr = {};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = config;
  attr.sample_period = sample_period;  // a fixed period, not a frequency
  attr.inherit = inherit;
  attr.exclude_kernel = user_only;
  attr.exclude_hv = user_only;
  return static_cast<int>(
      syscall(SYS_perf_event_open, &attr, pid, cpu, /*group_fd=*/-1, PERF_FLAG_FD_CLOEXEC));
}

bpf_link* AttachToPerfEvent(bpf_program* program, UniqueFd event) {
  bpf_link* link = bpf_program__attach_perf_event(program, event.get());
  if (link) {
    (void)event.Release();  // the link's now
  } else {
    const int err = errno;  // for the caller's message, past the close
    event.Reset();
    errno = err;
  }
  return link;
}

std::vector<int> OnlineCpus() {
  std::ifstream in("/sys/devices/system/cpu/online");
  std::string text;
  std::getline(in, text);
  std::vector<int> cpus = ParseCpuList(text);
  if (cpus.empty())
    for (long c = 0; c < sysconf(_SC_NPROCESSORS_ONLN); c++) cpus.push_back(static_cast<int>(c));
  return cpus;
}

}  // namespace profd
