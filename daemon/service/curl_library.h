#pragma once

#include <curl/curl.h>

#include <string>

namespace profd {

// libcurl, opened on first use. A profd that pushes nowhere (every one-shot run, a daemon without
// `export:`) then never maps libcurl and the TLS, Kerberos and LDAP libraries beneath it, which
// cost 6.4 MB of RSS at start-up when linked (BENCHMARKS section 15).
struct CurlLibrary {
  decltype(&curl_easy_init) easy_init;
  decltype(&curl_easy_setopt) easy_setopt;
  decltype(&curl_easy_perform) easy_perform;
  decltype(&curl_easy_getinfo) easy_getinfo;
  decltype(&curl_easy_cleanup) easy_cleanup;
  decltype(&curl_easy_strerror) easy_strerror;
  decltype(&curl_slist_append) slist_append;
  decltype(&curl_slist_free_all) slist_free_all;

  // Opens libcurl.so.4 (and runs curl_global_init) once per process, from the first caller. Returns
  // nullptr, with `error` saying why, when it cannot: then it tries again at the next call.
  static const CurlLibrary* Get(std::string* error);
};

}  // namespace profd
