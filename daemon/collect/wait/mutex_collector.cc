#include <bpf/libbpf.h>

#include "collect/bpf_skeleton.h"
#include "collect/collectors.h"
#include "collect/wait/wait_collector.h"
#include "mutex.skel.h"

namespace profd {

namespace {

class MutexCollector : public WaitCollector {
 public:
  ~MutexCollector() override { Stop(); }  // before the skeleton goes

  bool Load(const CollectorOptions& options, std::string* error) {
    auto configure = [&options](mutex_bpf* skel) { Configure(options, skel); };
    return skel_.Load("the mutex profiler", configure, error) &&
           UseWaitObject(skel_->obj, skel_->progs.profd_mutex_switch_out, options,
                         /*min_wait_nanos=*/0, error);
  }

 private:
  BpfSkeleton<mutex_bpf> skel_;
};

}  // namespace

Result<std::unique_ptr<StackCollector>> LoadMutexCollector(const CollectorOptions& options) {
  return MakeLoadedCollector<MutexCollector>(options);
}

}  // namespace profd
