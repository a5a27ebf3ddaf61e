// Reading the targets' files for the symbolizer during a profile's window rather than after it.
#ifndef PROFD_DAEMON_PROFILES_SYMBOLIZER_WARM_UP_H
#define PROFD_DAEMON_PROFILES_SYMBOLIZER_WARM_UP_H

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "process/process_table.h"
#include "symbolizer.h"

namespace profd {

// Reading kallsyms and opening the targets' ELF files and DWARF (inflating it, indexing its units)
// took a few hundred ms after a profile's window: done on a thread during the window instead.
// The one-shot command runs it at the lowest priority (SCHED_IDLE), so that on a busy host it takes
// no CPU from the targets, raised to normal priority when the window ends and its result is waited
// for. The daemon runs it at normal priority into its shared symbolizer: on a host whose every
// core is busy an idle thread would not run before the window's end, and then 50 requests waited
// behind the one that read libc's DWARF at a fiftieth of a core.
class SymbolizerWarmUp {
 public:
  enum class Priority { kIdle, kNormal };
  // `kernel` is loaded when not null; `pids` empty: every process of `processes`.
  SymbolizerWarmUp(Symbolizer* symbolizer, KernelSymbolizer* kernel, std::vector<pid_t> pids,
                   const ProcessTable& processes, Priority priority);
  // Unless waited for: what is left is not read (a failed or abandoned window, the daemon
  // stopping).
  ~SymbolizerWarmUp();
  SymbolizerWarmUp(const SymbolizerWarmUp&) = delete;
  SymbolizerWarmUp& operator=(const SymbolizerWarmUp&) = delete;

  // Back to normal priority, and done.
  void Wait();

 private:
  struct File {
    std::shared_ptr<MappedFile> file;
    std::string root;
    std::shared_ptr<UniqueFd> root_dir;  // what `root` names, kept open
  };
  void Run(const std::vector<File>& files);

  Symbolizer* symbolizer_;  // thread-safe: the thread's work stays in its cache
  KernelSymbolizer* kernel_;
  const Priority priority_;
  std::mutex mutex_;
  pid_t tid_ = 0;
  bool hurry_ = false;
  std::atomic<bool> cancelled_{false};
  std::thread thread_;
};

}  // namespace profd

#endif  // PROFD_DAEMON_PROFILES_SYMBOLIZER_WARM_UP_H
