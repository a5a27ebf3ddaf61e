#include <bpf/libbpf.h>

#include "collect/bpf_skeleton.h"
#include "collect/collectors.h"
#include "threadcreate.skel.h"

namespace profd {

namespace {

class ThreadCreateCollector : public StackCollector {
 public:
  ~ThreadCreateCollector() override { Stop(); }  // before the skeleton goes

  bool Load(const CollectorOptions& options, std::string* error) {
    auto configure = [&options](threadcreate_bpf* skel) { Configure(options, skel); };
    return skel_.Load("the threadcreate profiler", configure, error) &&
           UseObject(skel_->obj, options, error);
  }
  Result<void> Attach() override {
    std::string error;
    if (!AttachProgram(skel_->progs.profd_task_newtask, &error) || !AttachProcessEvents(&error))
      return Error{error};
    return {};
  }

 private:
  BpfSkeleton<threadcreate_bpf> skel_;
};

}  // namespace

Result<std::unique_ptr<StackCollector>> LoadThreadCreateCollector(const CollectorOptions& options) {
  return MakeLoadedCollector<ThreadCreateCollector>(options);
}

}  // namespace profd
