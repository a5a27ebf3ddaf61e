// One of bpf/'s skeletons, owned: opened, configured before its load, loaded, and destroyed with
// its owner. Every collector loads its programs through it, so the steps and their error messages
// are written once. bpftool's C++ skeletons give each object static open/load/destroy members.
#ifndef PROFD_DAEMON_COLLECT_BPF_SKELETON_H
#define PROFD_DAEMON_COLLECT_BPF_SKELETON_H

#include <cerrno>
#include <string>

#include "collect/bpf_support.h"

namespace profd {

template <typename Skeleton>
class BpfSkeleton {
 public:
  BpfSkeleton() = default;
  BpfSkeleton(const BpfSkeleton&) = delete;
  BpfSkeleton& operator=(const BpfSkeleton&) = delete;
  ~BpfSkeleton() {
    if (skeleton_) Skeleton::destroy(skeleton_);
  }

  // Opens the object, lets `configure` set what must be set before the load (read-only data, map
  // sizes, program types) and loads it. False with `error` naming `what` ("the heap profiler")
  // and the cause when either step fails; the object is then gone.
  template <typename Configure>
  bool Load(const std::string& what, Configure&& configure, std::string* error) {
    skeleton_ = Skeleton::open();
    if (!skeleton_) {
      *error = DescribeBpfError("cannot open " + what + "'s BPF object", errno);
      return false;
    }
    configure(skeleton_);
    if (int err = Skeleton::load(skeleton_)) {
      *error = DescribeBpfError("cannot load " + what + "'s BPF programs", err);
      Skeleton::destroy(skeleton_);
      skeleton_ = nullptr;
      return false;
    }
    return true;
  }

  Skeleton* operator->() const { return skeleton_; }
  Skeleton* get() const { return skeleton_; }
  explicit operator bool() const { return skeleton_ != nullptr; }

 private:
  Skeleton* skeleton_ = nullptr;
};

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_BPF_SKELETON_H
