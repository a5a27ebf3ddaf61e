#include "profiles/symbolizer_warm_up.h"

#include <sched.h>
#include <unistd.h>

#include <exception>
#include <set>

#include "base/log.h"

namespace profd {

SymbolizerWarmUp::SymbolizerWarmUp(Symbolizer* symbolizer, KernelSymbolizer* kernel,
                                   std::vector<pid_t> pids, const ProcessTable& processes,
                                   Priority priority)
    : symbolizer_(symbolizer), kernel_(kernel), priority_(priority) {
  // The files (and the roots their debug files are looked up under) are held here: the table
  // changes during the window.
  std::vector<File> files;
  std::set<const MappedFile*> seen;
  if (pids.empty()) pids = processes.pids();
  for (pid_t pid : pids)
    if (const ProcessInfo* process = processes.Find(pid))
      for (const Mapping& mapping : process->mappings)
        if (mapping.file && seen.insert(mapping.file.get()).second)
          files.push_back({mapping.file, process->root, process->root_dir});
  thread_ = std::thread([this, files = std::move(files)] { Run(files); });
}

SymbolizerWarmUp::~SymbolizerWarmUp() {
  cancelled_ = true;
  Wait();
}

void SymbolizerWarmUp::Wait() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    hurry_ = true;
    sched_param normal = {};
    if (tid_ > 0 && priority_ == Priority::kIdle) sched_setscheduler(tid_, SCHED_OTHER, &normal);
  }
  if (thread_.joinable()) thread_.join();
}

void SymbolizerWarmUp::Run(const std::vector<File>& files) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tid_ = gettid();
    sched_param idle = {};
    if (!hurry_ && priority_ == Priority::kIdle)
      sched_setscheduler(0, SCHED_IDLE, &idle);  // this thread only
  }
  std::string error;
  if (kernel_ && !kernel_->Load("/proc/kallsyms", &error))
    LogWarning("kernel frames stay unsymbolized: " + error);
  for (const auto& [file, root, root_dir] : files) {
    if (cancelled_) return;
    ElfFileInfo info;
    // Errors are the assembler's to report when it describes the file again; nothing thrown
    // here may end the process (a request's handler would have caught it).
    try {
      symbolizer_->Describe(file->open_path(), &info, &error, root);
    } catch (const std::exception& e) {
      LogDebug("reading " + file->path + " ahead of symbolizing failed: " + e.what());
    }
  }
}

}  // namespace profd
