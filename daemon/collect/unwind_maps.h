// The maps LoadedUnwindTables fills, made before a collector's BPF object is loaded: the targets'
// tables then go in while the verifier checks the programs, and the object uses these maps instead
// of creating its own.
#ifndef PROFD_DAEMON_COLLECT_UNWIND_MAPS_H
#define PROFD_DAEMON_COLLECT_UNWIND_MAPS_H

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

struct bpf_object;

namespace profd {

struct UnwindMaps {
  UniqueFd tables;     // unwind_tables: table id -> its rows
  UniqueFd processes;  // process_unwind: pid -> its executable mappings
  UniqueFd python;     // python_processes: pid -> its CPython runtime
};

// Each map shaped as bpf/ defines it (read from the CPU sampler's object, which has all three).
Result<UnwindMaps> CreateUnwindMaps();

// Makes `object` (opened, not yet loaded) use `maps` for those of them it has; a map libbpf
// refuses is logged, and UsesUnwindMaps says so after the load.
void ReuseUnwindMaps(bpf_object* object, const UnwindMaps& maps);

// Whether the loaded `object` uses `maps` (false when a reuse did not take).
bool UsesUnwindMaps(bpf_object* object, const UnwindMaps& maps);

}  // namespace profd

#endif  // PROFD_DAEMON_COLLECT_UNWIND_MAPS_H
