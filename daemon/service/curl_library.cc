#include "service/curl_library.h"

#include <dlfcn.h>

#include <mutex>

namespace profd {
namespace {

// The soname of Debian's libcurl4 (OpenSSL), whose headers libcurl4-openssl-dev gives the build.
constexpr char kSoname[] = "libcurl.so.4";

template <typename F>
bool Resolve(void* handle, const char* name, F* out, std::string* error) {
  *out = reinterpret_cast<F>(dlsym(handle, name));
  if (!*out) *error = std::string(kSoname) + " has no " + name;
  return *out != nullptr;
}

}  // namespace

const CurlLibrary* CurlLibrary::Get(std::string* error) {
  static std::mutex mutex;
  static CurlLibrary library;
  static bool loaded = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded) return &library;
  void* handle = dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    *error = "cannot load " + std::string(kSoname) + " (install libcurl4): " + (why ? why : "");
    return nullptr;
  }
  decltype(&curl_global_init) global_init = nullptr;
  CurlLibrary l{};
  const bool ok = Resolve(handle, "curl_global_init", &global_init, error) &&
                  Resolve(handle, "curl_easy_init", &l.easy_init, error) &&
                  Resolve(handle, "curl_easy_setopt", &l.easy_setopt, error) &&
                  Resolve(handle, "curl_easy_perform", &l.easy_perform, error) &&
                  Resolve(handle, "curl_easy_getinfo", &l.easy_getinfo, error) &&
                  Resolve(handle, "curl_easy_cleanup", &l.easy_cleanup, error) &&
                  Resolve(handle, "curl_easy_strerror", &l.easy_strerror, error) &&
                  Resolve(handle, "curl_slist_append", &l.slist_append, error) &&
                  Resolve(handle, "curl_slist_free_all", &l.slist_free_all, error);
  if (!ok) {
    dlclose(handle);
    return nullptr;
  }
  if (const CURLcode code = global_init(CURL_GLOBAL_DEFAULT); code != CURLE_OK) {
    *error = "curl_global_init failed: " + std::string(l.easy_strerror(code));
    dlclose(handle);
    return nullptr;
  }
  // Kept open for the life of the process: libcurl's global state is not undone.
  library = l;
  loaded = true;
  return &library;
}

}  // namespace profd
