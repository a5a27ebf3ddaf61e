#include "collect/unwind_maps.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "base/log.h"
#include "collect/bpf_support.h"
// The skeleton names profd_abi.h's structs, so it comes after it.
// clang-format off
#include "profd_abi.h"
#include "cpu.skel.h"
// clang-format on

namespace profd {
namespace {

struct Named {
  const char* name;
  UniqueFd UnwindMaps::*fd;
};
constexpr Named kMaps[] = {{"unwind_tables", &UnwindMaps::tables},
                           {"process_unwind", &UnwindMaps::processes},
                           {"python_processes", &UnwindMaps::python}};

// A map as `spec` (of an opened object) defines it, with its inner map's template for a map of
// maps.
Result<UniqueFd> CreateMapLike(const bpf_map* spec) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(spec),
              .map_extra = bpf_map__map_extra(spec));
  UniqueFd inner;
  if (const bpf_map* inner_spec = bpf_map__inner_map(const_cast<bpf_map*>(spec))) {
    Result<UniqueFd> made = CreateMapLike(inner_spec);
    if (!made) return made;
    inner = std::move(*made);
    opts.inner_map_fd = inner.get();
  }
  UniqueFd fd(bpf_map_create(bpf_map__type(spec), bpf_map__name(spec), bpf_map__key_size(spec),
                             bpf_map__value_size(spec), bpf_map__max_entries(spec), &opts));
  if (!fd.valid())
    return Error{
        DescribeBpfError(std::string("cannot create the map ") + bpf_map__name(spec), errno)};
  return fd;  // the outer map keeps what it needs of the template
}

uint32_t MapId(int fd) {
  bpf_map_info info = {};
  uint32_t size = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &size) == 0 ? info.id : 0;
}

}  // namespace

Result<UnwindMaps> CreateUnwindMaps() {
  std::unique_ptr<cpu_bpf, decltype(&cpu_bpf::destroy)> spec(cpu_bpf::open(), &cpu_bpf::destroy);
  if (!spec) return Error{DescribeBpfError("cannot open the CPU sampler's BPF object", errno)};
  UnwindMaps maps;
  for (const Named& m : kMaps) {
    const bpf_map* map = bpf_object__find_map_by_name(spec->obj, m.name);
    if (!map) return Error{std::string("internal error: the BPF object has no map ") + m.name};
    Result<UniqueFd> fd = CreateMapLike(map);
    if (!fd) return Error{fd.error()};
    maps.*m.fd = std::move(*fd);
  }
  return maps;
}

void ReuseUnwindMaps(bpf_object* object, const UnwindMaps& maps) {
  for (const Named& m : kMaps) {
    bpf_map* map = bpf_object__find_map_by_name(object, m.name);
    if (map && bpf_map__reuse_fd(map, (maps.*m.fd).get()) != 0)
      LogWarning(DescribeBpfError(std::string("cannot reuse the map ") + m.name, errno));
  }
}

bool UsesUnwindMaps(bpf_object* object, const UnwindMaps& maps) {
  for (const Named& m : kMaps) {
    const bpf_map* map = bpf_object__find_map_by_name(object, m.name);
    if (map && MapId(bpf_map__fd(map)) != MapId((maps.*m.fd).get())) return false;
  }
  return true;
}

}  // namespace profd
