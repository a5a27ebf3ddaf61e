// Code the symbolizer tests look up. Lines marked "LINE:<name>" are found by the test by marker,
// so edits here cannot silently break it.
#include <dlfcn.h>
#include <link.h>

#include <cstdint>
#include <cstdio>

#define FIXTURE_ALWAYS_INLINE __attribute__((always_inline)) inline

namespace fixture_ns {

// Where the inline chain below called us from, as an ELF virtual address of this object.
uintptr_t g_call_site = 0;

__attribute__((noinline)) int Compute(int x) {
  // The call instruction ends at the return address; one byte before it is inside the call.
  uintptr_t return_address = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  Dl_info info;
  link_map* map = nullptr;
  if (dladdr1(reinterpret_cast<void*>(return_address), &info, reinterpret_cast<void**>(&map),
              RTLD_DL_LINKMAP) != 0 &&
      map != nullptr) {
    g_call_site = return_address - 1 - map->l_addr;
  }
  return x * 3 + 1;  // LINE:compute_body
}

}  // namespace fixture_ns

static FIXTURE_ALWAYS_INLINE int Inner(int x) {
  return fixture_ns::Compute(x) + 2;  // LINE:inner_call
}

static FIXTURE_ALWAYS_INLINE int Middle(int x) {
  return Inner(x) * 5;  // LINE:middle_call
}

extern "C" __attribute__((noinline)) int OuterEntry(int x) {
  return Middle(x) - 7;  // LINE:outer_call
}

// Prints the call site inside OuterEntry and the address of fixture_ns::Compute, both as ELF
// virtual addresses of the object holding this code.
extern "C" void FixtureReport(int argc) {
  volatile int result = OuterEntry(argc);
  (void)result;
  Dl_info info;
  link_map* map = nullptr;
  auto compute = reinterpret_cast<uintptr_t>(&fixture_ns::Compute);
  dladdr1(reinterpret_cast<void*>(compute), &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP);
  std::printf("call_site %lx\ncompute %lx\n", static_cast<unsigned long>(fixture_ns::g_call_site),
              static_cast<unsigned long>(compute - (map ? map->l_addr : 0)));
}
