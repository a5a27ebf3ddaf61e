#include "profiles/profile_assembler.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <set>

#include "base/log.h"
#include "process/process_labels.h"

namespace profd {
namespace {

constexpr uint64_t kKernelStart = 0xffff800000000000ULL;

// Callers' frames hold return addresses; the call itself is the instruction before.
uint64_t CallSiteAddress(uint64_t ip, size_t depth) { return depth == 0 || ip == 0 ? ip : ip - 1; }

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Hex(uint64_t v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "0x%" PRIx64, v);
  return buffer;
}

bool IsTracingPlumbing(const std::string& function) {
  for (const char* prefix : {"bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_"})
    if (function.rfind(prefix, 0) == 0) return true;
  return false;
}

std::vector<LineInfo> ToLines(const Symbolization& s) {
  std::vector<LineInfo> lines;
  for (const SourceFrame& f : s.frames) {
    LineInfo line;
    line.function = f.function.empty() ? "??" : f.function;
    line.system_name = f.linkage_name.empty() ? line.function : f.linkage_name;
    line.filename = f.file;
    line.line = f.line;
    line.column = f.column;
    lines.push_back(std::move(line));
  }
  return lines;
}

}  // namespace

Symbolizer::Options ProfileSymbolizerOptions() {
  Symbolizer::Options options;
  options.demangle_style = DemangleStyle::kWithoutParameters;
  // A host-wide profile symbolizes every sampled process's files: kept all at once, their DWARF
  // indexes were most of the daemon's peak memory (107 of 162 MB of heap under heaptrack, 50
  // requests and a round every 15 s). Files are symbolized one after the other, so a profile
  // needs only the one at hand; hot ones (libc, the targets') stay as the most recently used.
  options.max_cached_bytes = 16 << 20;
  return options;
}

ProfileAssembler::ProfileAssembler(Symbolizer* symbolizer, const KernelSymbolizer* kernel,
                                   const ProcessTable* processes, PythonFrameNames* python)
    : symbolizer_(symbolizer),
      kernel_(kernel),
      processes_(processes),
      python_(python ? python : &own_python_) {}

const ElfFileInfo* ProfileAssembler::Describe(const MappedFile* file, const std::string& root) {
  if (!file) return nullptr;
  auto ok = elf_ok_.find(file);
  if (ok == elf_ok_.end()) {
    ElfFileInfo info;
    std::string error;
    bool described = symbolizer_->Describe(file->open_path(), &info, &error, root);
    if (!described) LogDebug("cannot read " + file->path + " as ELF: " + error);
    ok = elf_ok_.emplace(file, described).first;
    if (described) elf_info_.emplace(file, std::move(info));
  }
  return ok->second ? &elf_info_.at(file) : nullptr;
}

void ProfileAssembler::SymbolizeAll(const StackSamples& samples) {
  std::map<const MappedFile*, std::set<uint64_t>> wanted;
  for (const StackSample& sample : samples.samples) {
    const ProcessInfo* process = processes_->Find(static_cast<pid_t>(sample.pid));
    auto trace = samples.stacks.find(sample.user_stack_id);
    if (!process || trace == samples.stacks.end()) continue;
    for (size_t i = 0; i < trace->second.ips.size(); i++) {
      if (IsPythonFrame(trace->second.ips[i])) continue;
      const uint64_t ip = CallSiteAddress(trace->second.ips[i], i);
      const Mapping* mapping = process->FindMapping(ip);
      if (!mapping) continue;
      const MappedFile* file = mapping->file.get();
      const ElfFileInfo* info = Describe(file, process->root);
      uint64_t vaddr;
      if (!info || !info->FileOffsetToVaddr(ip - mapping->start + mapping->offset, &vaddr))
        continue;
      if (symbols_.count({file, vaddr})) continue;
      wanted[file].insert(vaddr);
    }
  }
  for (const auto& [file, vaddr_set] : wanted) {
    std::vector<uint64_t> vaddrs(vaddr_set.begin(), vaddr_set.end());
    // Debug files were found by Describe, under the root of the first process seen mapping the
    // file.
    std::vector<Symbolization> results = symbolizer_->Symbolize(file->open_path(), vaddrs);
    for (size_t i = 0; i < vaddrs.size() && i < results.size(); i++)
      symbols_[{file, vaddrs[i]}] = std::move(results[i]);
  }
}

const ProfileAssembler::JitNames& ProfileAssembler::JitNamesOf(const ProcessInfo& process) {
  auto [it, inserted] = jit_names_.try_emplace(process.pid);
  if (!inserted) return it->second;
  const std::string pid = std::to_string(process.pid);
  // The process's uid: its perf map and jitdumps count only when its own (or root's).
  struct stat st;
  if (stat(("/proc/" + pid).c_str(), &st) != 0) return it->second;  // gone
  std::string error;
  if (it->second.map.Load(process.pid, st.st_uid, &error) && it->second.map.skipped_lines())
    LogDebug("perf map of pid " + pid + ": " + std::to_string(it->second.map.skipped_lines()) +
             " lines skipped");
  else if (!error.empty())
    LogDebug("no perf map for pid " + pid + ": " + error);
  // A JIT maps its jitdump file (executable, as perf's convention asks) so that tools find it.
  std::set<std::string> seen;
  for (const Mapping& mapping : process.mappings) {
    if (!IsJitDumpPath(mapping.path) || !seen.insert(mapping.path).second) continue;
    JitDump dump;
    error.clear();
    if (!dump.Load(process.root, mapping.path, st.st_uid, &error)) {
      LogDebug("jitdump of pid " + pid + " not read: " + error);
      continue;
    }
    LogDebug("jitdump " + mapping.path + " of pid " + pid + ": " + std::to_string(dump.size()) +
             " functions" + (dump.stopped().empty() ? "" : ", read in part: " + dump.stopped()));
    it->second.dumps.push_back(std::move(dump));
  }
  return it->second;
}

uint64_t ProfileAssembler::AddMapping(const ProcessInfo& process, const Mapping& mapping,
                                      ProfileBuilder* builder) {
  MappingInfo info;
  info.memory_start = mapping.start;
  info.memory_limit = mapping.end;
  info.file_offset = mapping.offset;
  info.filename = mapping.path;
  const MappedFile* file = mapping.file.get();
  if (const ElfFileInfo* elf = Describe(file, process.root)) {
    info.build_id = elf->build_id;
    info.has_line_numbers = info.has_filenames = info.has_inline_frames = elf->has_debug_info;
  }
  // Every address was offered to the symbolizer: pprof must not try again with files it cannot see.
  info.has_functions = true;
  return builder->AddMapping(info);
}

uint64_t ProfileAssembler::PythonLocation(const ProcessInfo* process, uint64_t frame,
                                          ProfileBuilder* builder) {
  LineInfo line;
  std::string interpreter;
  if (python_->Name(process, frame, &line, &interpreter))
    frame_stats_.python++;
  else
    frame_stats_.python_unread++;
  // One mapping per interpreter for its Python code, above every user address (as the frames are).
  MappingInfo mapping;
  mapping.memory_start = PROFD_PYTHON_FRAME_TAG;
  mapping.memory_limit = PROFD_PYTHON_FRAME_TAG + (1ULL << 60);
  mapping.filename = "[" + BaseName(interpreter.empty() ? "python" : interpreter) + "]";
  mapping.has_functions = mapping.has_filenames = mapping.has_line_numbers = true;
  return builder->AddLocation(builder->AddMapping(mapping), frame, {line});
}

std::vector<uint64_t> ProfileAssembler::UserLocations(const ProcessInfo* process,
                                                      const StackTrace& trace,
                                                      ProfileBuilder* builder) {
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < trace.ips.size(); i++) {
    if (IsPythonFrame(trace.ips[i])) {
      ids.push_back(PythonLocation(process, trace.ips[i], builder));
      continue;
    }
    const uint64_t ip = CallSiteAddress(trace.ips[i], i);
    const Mapping* mapping = process ? process->FindMapping(ip) : nullptr;
    // JIT code lives in anonymous mappings, some mapped after the process table read the maps.
    if (process && (!mapping || !mapping->file)) {
      const JitNames& jit = JitNamesOf(*process);
      LineInfo line;
      for (const JitDump& dump : jit.dumps) {
        if (const JitDump::Symbol symbol = dump.Find(ip); !symbol.function.empty()) {
          frame_stats_.jit_dump++;
          line.function = line.system_name = std::string(symbol.function);
          line.filename = std::string(symbol.file);
          line.line = symbol.line;
          break;
        }
      }
      if (line.function.empty()) {
        if (std::string_view name = jit.map.Find(ip); !name.empty()) {
          frame_stats_.jit++;
          line.function = line.system_name = std::string(name);
        }
      }
      if (!line.function.empty()) {
        ids.push_back(builder->AddLocation(mapping ? AddMapping(*process, *mapping, builder) : 0,
                                           ip, {line}));
        continue;
      }
    }
    if (!mapping) {
      frame_stats_.outside_mappings++;
      ids.push_back(builder->AddLocation(0, ip, {}));
      continue;
    }
    const MappedFile* file = mapping->file.get();
    const ElfFileInfo* info = Describe(file, process->root);
    uint64_t vaddr = 0;
    std::vector<LineInfo> lines;
    if (info && info->FileOffsetToVaddr(ip - mapping->start + mapping->offset, &vaddr)) {
      auto found = symbols_.find({file, vaddr});
      if (found != symbols_.end()) lines = ToLines(found->second);
    }
    if (lines.empty()) {
      // Name the place by file and offset so it still tells the reader where the time went.
      frame_stats_.without_symbols++;
      LineInfo unknown;
      unknown.function = BaseName(mapping->path) + "+" + Hex(info ? vaddr : ip - mapping->start);
      unknown.system_name = unknown.function;
      unknown.filename = mapping->path;
      lines.push_back(unknown);
    }
    ids.push_back(builder->AddLocation(AddMapping(*process, *mapping, builder), ip, lines));
  }
  return ids;
}

std::vector<uint64_t> ProfileAssembler::KernelLocations(const StackTrace& trace,
                                                        ProfileBuilder* builder) {
  MappingInfo kernel_mapping;
  kernel_mapping.memory_start = kKernelStart;
  kernel_mapping.memory_limit = ~0ULL;
  kernel_mapping.filename = "[kernel.kallsyms]";
  kernel_mapping.has_functions = true;
  const uint64_t mapping_id = builder->AddMapping(kernel_mapping);
  std::vector<uint64_t> ids;
  bool in_plumbing = true;
  for (size_t i = 0; i < trace.ips.size(); i++) {
    const uint64_t ip = CallSiteAddress(trace.ips[i], i);
    std::vector<LineInfo> lines;
    if (kernel_ && kernel_->loaded()) lines = ToLines(kernel_->Symbolize(ip));
    // A stack taken in a tracepoint starts in profd's own BPF program and the tracepoint's glue;
    // the profile starts where the traced code called it.
    if (in_plumbing && !lines.empty() && IsTracingPlumbing(lines.back().function)) continue;
    in_plumbing = false;
    if (lines.empty()) {
      frame_stats_.kernel++;
      lines.push_back({"[kernel] " + Hex(ip), "", "", 0, 0});
      lines.back().system_name = lines.back().function;
    }
    ids.push_back(builder->AddLocation(mapping_id, ip, lines));
  }
  return ids;
}

void ProfileAssembler::Add(const StackSamples& samples, ProfileBuilder* builder) {
  SymbolizeAll(samples);

  // pprof takes mapping[0] as the main binary: add each process's executable first.
  std::set<uint32_t> pids;
  for (const StackSample& sample : samples.samples) pids.insert(sample.pid);
  for (uint32_t pid : pids) {
    const ProcessInfo* process = processes_->Find(static_cast<pid_t>(pid));
    if (const Mapping* main = process ? process->MainMapping() : nullptr)
      AddMapping(*process, *main, builder);
  }

  const StackTrace kEmpty;
  const std::string hostname = HostName();
  for (const StackSample& sample : samples.samples) {
    const ProcessInfo* process = processes_->Find(static_cast<pid_t>(sample.pid));
    auto user = samples.stacks.find(sample.user_stack_id);
    auto kernel = samples.stacks.find(sample.kernel_stack_id);
    const StackTrace& user_trace = user == samples.stacks.end() ? kEmpty : user->second;
    const StackTrace& kernel_trace = kernel == samples.stacks.end() ? kEmpty : kernel->second;

    std::vector<uint64_t> locations = KernelLocations(kernel_trace, builder);
    std::vector<uint64_t> user_ids = UserLocations(process, user_trace, builder);
    locations.insert(locations.end(), user_ids.begin(), user_ids.end());
    if (user_trace.truncated || kernel_trace.truncated)
      locations.push_back(
          builder->AddLocation(0, 0, {{"[truncated stack]", "[truncated stack]", "", 0, 0}}));
    if (locations.empty()) {
      const char* why =
          sample.user_stack_id || sample.kernel_stack_id ? "[stack lost]" : "[no stack]";
      locations.push_back(builder->AddLocation(0, 0, {{why, why, "", 0, 0}}));
    }

    Label pid_label;
    pid_label.key = "pid";
    pid_label.num = sample.pid;
    pid_label.is_num = true;
    Label tid_label = pid_label;
    tid_label.key = "tid";
    tid_label.num = sample.tid;
    Label comm;
    comm.key = "comm";
    comm.str = process ? process->comm : sample.thread_comm;
    Label thread_comm;
    thread_comm.key = "thread_comm";
    thread_comm.str = sample.thread_comm;
    std::vector<Label> labels = {pid_label, tid_label, comm, thread_comm};
    // The labels the push exporters send, so a query works the same on a file and a backend.
    if (process && !process->kernel_thread) {
      labels.push_back(Label::String("service_name", process->service_name));
      if (!process->exe.empty()) labels.push_back(Label::String("exe", process->exe));
      if (!process->container_id.empty())
        labels.push_back(Label::String("container_id", process->container_id));
    }
    if (!hostname.empty()) labels.push_back(Label::String("hostname", hostname));
    builder->AddSample(locations, sample.values, labels);
  }
}

}  // namespace profd
