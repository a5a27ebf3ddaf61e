#include "profiles/profile_finish.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>

#include "base/log.h"
#include "profd_abi.h"
#include "profile_builder.h"
#include "profiles/profile_assembler.h"

namespace profd {
namespace {

// One profile per process of `samples` (the busiest `request.split_max_pids` of them), each with
// `whole`'s time and comments.
void SplitByPid(const StackSamples& samples, ProfileBuilder& whole, ProfileAssembler* assembler,
                const ProfileKind& kind, const ProcessTable& processes, CollectedProfile* result) {
  std::map<uint32_t, StackSamples> by_pid;
  std::map<uint32_t, int64_t> weight;
  for (const StackSample& s : samples.samples) {
    StackSamples& subset = by_pid[s.pid];
    subset.samples.push_back(s);
    for (uint64_t id : {s.user_stack_id, s.kernel_stack_id})
      if (auto it = samples.stacks.find(id); id && it != samples.stacks.end())
        subset.stacks.emplace(id, it->second);
    weight[s.pid] += s.values.empty() ? 0 : s.values.back();
  }
  const perftools::profiles::Profile& profile = whole.profile();
  for (auto& [pid, subset] : by_pid) {
    auto builder = std::make_unique<ProfileBuilder>(kind.sample_types, kind.default_sample_type,
                                                    kind.period_type, kind.period);
    assembler->Add(subset, builder.get());
    builder->SetTime(profile.time_nanos(), profile.duration_nanos());
    for (int64_t index : profile.comment()) builder->AddComment(profile.string_table(index));
    const ProcessInfo* process = processes.Find(static_cast<pid_t>(pid));
    result->per_pid.push_back(
        {static_cast<pid_t>(pid), weight[pid], std::move(builder), process ? process->comm : ""});
  }
  std::sort(result->per_pid.begin(), result->per_pid.end(),
            [](const auto& a, const auto& b) { return a.weight > b.weight; });
}

}  // namespace

// Symbolizes `samples` against `processes` and builds the profile (and the per-process ones) with
// the comments that say how it was collected.
void FinishProfile(const ProfileRequest& request, const ProfileKind& kind, StackSamples& samples,
                   ProcessTable& processes, const WindowFacts& facts, CollectedProfile* result) {
  // Collectors count {events, total weight}; a profile with one sample type keeps the events.
  for (StackSample& s : samples.samples) s.values.resize(kind.sample_types.size());
  for (const StackSample& s : samples.samples) processes.Observe(static_cast<pid_t>(s.pid));

  std::string error;
  KernelSymbolizer own_kernel;
  if (!facts.kernel && !own_kernel.Load("/proc/kallsyms", &error))
    LogWarning("kernel frames stay unsymbolized: " + error);
  Symbolizer own_symbolizer(ProfileSymbolizerOptions());
  ProfileAssembler assembler(facts.symbolizer ? facts.symbolizer : &own_symbolizer,
                             facts.kernel ? facts.kernel : &own_kernel, &processes, facts.python);
  result->builder = std::make_unique<ProfileBuilder>(kind.sample_types, kind.default_sample_type,
                                                     kind.period_type, kind.period);
  ProfileBuilder& builder = *result->builder;
  assembler.Add(samples, &builder);
  builder.SetTime(
      std::chrono::duration_cast<std::chrono::nanoseconds>(facts.wall_start.time_since_epoch())
          .count(),
      std::chrono::duration_cast<std::chrono::nanoseconds>(facts.duration).count());
  builder.AddComment("profd 0.1.0 " + kind.description);
  for (const std::string& note : facts.notes) {
    builder.AddComment(note);
    LogDebug(note);
  }
  if (facts.unwind) {
    const LoadedUnwindTables::Stats& u = *facts.unwind;
    char line[300];
    std::snprintf(
        line, sizeof(line),
        "user stacks unwound with tables: %llu files (%llu Go binaries, from .gopclntab), %llu "
        "rows (%.1f MiB of map memory), built in %.3f s; frame pointers for %llu files without "
        "tables",
        static_cast<unsigned long long>(u.tables_loaded),
        static_cast<unsigned long long>(u.go_tables_loaded),
        static_cast<unsigned long long>(u.rows_built),
        u.rows_built * sizeof(profd_unwind_row) / 1048576.0, u.build_seconds,
        static_cast<unsigned long long>(u.files_without_table));
    builder.AddComment(line);
  } else {
    builder.AddComment("user stacks walked with frame pointers (--unwind fp)");
  }
  for (const DropCounter& drop : samples.drops) {
    const std::string line = drop.name + ": " + std::to_string(drop.count);
    builder.AddComment(line);
    LogWarning(line);
  }
  const ProfileAssembler::FrameStats& frames = assembler.frame_stats();
  if (frames.outside_mappings)
    builder.AddComment("frames outside any mapping read: " +
                       std::to_string(frames.outside_mappings));
  if (frames.without_symbols)
    builder.AddComment("frames without symbols: " + std::to_string(frames.without_symbols));
  if (frames.kernel)
    builder.AddComment("kernel frames not in kallsyms: " + std::to_string(frames.kernel));
  if (frames.jit)
    builder.AddComment("JIT frames named from /tmp/perf-PID.map: " + std::to_string(frames.jit));
  if (frames.jit_dump)
    builder.AddComment("JIT frames named from jitdump files: " + std::to_string(frames.jit_dump));
  if (frames.python || frames.python_unread)
    builder.AddComment("Python frames named from their code objects: " +
                       std::to_string(frames.python) + " (" +
                       std::to_string(frames.python_unread) +
                       " not: the process exited before they were read)");
  if (!facts.exit_note.empty()) builder.AddComment(facts.exit_note);
  if (!facts.credentials_note.empty()) builder.AddComment(facts.credentials_note);
  if (facts.own_cpu_seconds >= 0) {
    char line[160];
    std::snprintf(line, sizeof(line), "profd CPU while collecting: %.3f s (%.2f%% of one core)",
                  facts.own_cpu_seconds,
                  facts.elapsed > 0 ? 100 * facts.own_cpu_seconds / facts.elapsed : 0.0);
    builder.AddComment(line);
  }
  if (!facts.bpf_line.empty()) {
    builder.AddComment(facts.bpf_line);
    LogInfo(facts.bpf_line);
  }
  if (request.split_by_pid) SplitByPid(samples, builder, &assembler, kind, processes, result);

  result->status = CollectedProfile::Status::kOk;
  if (samples.samples.empty()) {
    result->empty = true;
    if (facts.warn_when_empty) LogWarning("no samples: " + kind.no_samples);
  }
  if (!facts.exit_note.empty()) {
    LogWarning(facts.exit_note + "the profile holds what was collected until then");
    result->status = CollectedProfile::Status::kPartial;
  }
  if (!facts.credentials_note.empty()) {
    LogWarning(facts.credentials_note + "the profile holds what was collected until then");
    result->status = CollectedProfile::Status::kPartial;
  }
}

}  // namespace profd
