#include <bpf/libbpf.h>

#include "collect/bpf_skeleton.h"
#include "collect/collectors.h"
#include "collect/wait/wait_collector.h"
#include "offcpu.skel.h"

namespace profd {

namespace {

class OffCpuCollector : public WaitCollector {
 public:
  ~OffCpuCollector() override { Stop(); }  // before the skeleton goes

  bool Load(const CollectorOptions& options, uint64_t min_block_nanos, std::string* error) {
    auto configure = [&](offcpu_bpf* skel) {
      Configure(options, skel);
      skel->rodata->min_wait_nanos = min_block_nanos;
    };
    return skel_.Load("the block profiler", configure, error) &&
           UseWaitObject(skel_->obj, skel_->progs.profd_block_switch_out, options, min_block_nanos,
                         error);
  }

 private:
  BpfSkeleton<offcpu_bpf> skel_;
};

}  // namespace

Result<std::unique_ptr<StackCollector>> LoadOffCpuCollector(const CollectorOptions& options,
                                                            uint64_t min_block_nanos) {
  return MakeLoadedCollector<OffCpuCollector>(options, min_block_nanos);
}

}  // namespace profd
