// The block (off-CPU) profile collector: offcpu.bpf.c at every switch-out of the target threads.
#ifndef PROFD_DAEMON_COLLECT_WAIT_OFFCPU_COLLECTOR_H
#define PROFD_DAEMON_COLLECT_WAIT_OFFCPU_COLLECTOR_H

#include <cstdint>
#include <memory>
#include <string>

#include "collect/bpf_skeleton.h"
#include "collect/wait/wait_collector.h"

struct offcpu_bpf;

namespace profd {

class OffCpuCollector : public WaitCollector {
 public:
  struct Options : CollectorOptions {
    uint64_t min_block_nanos = 10000;  // waits shorter than this are not counted
  };

  static std::unique_ptr<OffCpuCollector> Load(const Options& options, std::string* error);
  ~OffCpuCollector() override;

 private:
  OffCpuCollector() = default;
  BpfSkeleton<offcpu_bpf> skel_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_WAIT_OFFCPU_COLLECTOR_H
