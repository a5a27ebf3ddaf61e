#include "mutex_collector.h"

#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bpf_support.h"
#include "mutex.skel.h"

namespace profd {

std::string EnsureTracefs() {
  if (access("/sys/kernel/tracing/events", F_OK) == 0 ||
      access("/sys/kernel/debug/tracing/events", F_OK) == 0)
    return "";
  if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
    return std::string("tracefs is not mounted and mounting it failed (") + std::strerror(errno) +
           "): mount it with 'mount -t tracefs nodev /sys/kernel/tracing'";
  return "";
}

std::unique_ptr<MutexCollector> MutexCollector::Load(const Options& options, std::string* error) {
  if (std::string why = EnsureTracefs(); !why.empty()) {
    *error = "the mutex profile needs the futex syscall tracepoints: " + why;
    return nullptr;
  }
  std::unique_ptr<MutexCollector> collector(new MutexCollector());
  collector->skel_ = mutex_bpf__open();
  if (!collector->skel_) {
    *error = DescribeBpfError("cannot open the mutex profiler's BPF object", errno);
    return nullptr;
  }
  mutex_bpf* skel = collector->skel_;
  Configure(options, skel->rodata);
  if (int err = mutex_bpf__load(skel)) {
    *error = DescribeBpfError("cannot load the mutex profiler's BPF programs", err);
    return nullptr;
  }
  if (!collector->UseObject(skel->obj, options.pids, error)) return nullptr;
  return collector;
}

bool MutexCollector::Attach(std::string* error) {
  return AttachProgram(skel_->progs.profd_futex_enter, error) &&
         AttachProgram(skel_->progs.profd_futex_exit, error) && AttachProcessEvents(error);
}

MutexCollector::~MutexCollector() {
  Stop();
  if (skel_) mutex_bpf__destroy(skel_);
}

}  // namespace profd
