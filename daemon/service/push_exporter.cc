#include "service/push_exporter.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "base/log.h"
#include "process/process_labels.h"
#include "service/curl_library.h"

namespace profd {
namespace {

constexpr char kSpoolSuffix[] = ".push";
constexpr char kRefusedSuffix[] = ".refused";  // a backend refused it: kept for a config change
constexpr char kMagic[] = "profd-push 1";
constexpr size_t kMaxAnswerBytes = 4096;  // of a server's answer, for the log
constexpr double kFirstBackoffSeconds = 0.5;
constexpr double kMaxBackoffSeconds = 30;
constexpr std::chrono::seconds kMaxRetryAfter{300};

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string WireOf(const DaemonConfig::Exporter& e) { return ExportWire(e.kind, e.api); }

// A spool file names its backend so: another api to the same url is another backend (the body
// differs), while pyroscope's Connect push keeps the key files spooled before `api` had.
std::string BackendKey(const DaemonConfig::Exporter& e) { return WireOf(e) + " " + e.url; }

std::string RandomId() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  const uint64_t a = random(), b = random();
  char id[40];
  // A version-4 UUID, as Pyroscope's own clients make its ids.
  std::snprintf(id, sizeof(id),
                "%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-%04" PRIx64 "-%012" PRIx64, a >> 32,
                (a >> 16) & 0xffff, a & 0xfff, 0x8000 | ((b >> 48) & 0x3fff),
                static_cast<uint64_t>(b & 0xffffffffffffULL));
  return id;
}

// Reads `path` (at most its first `prefix` bytes) when it is a regular file of profd's user no
// larger than `limit`.
bool ReadWholeFile(const std::string& path, uint64_t limit, std::string* out,
                   uint64_t prefix = UINT64_MAX) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  // Only a regular file of ours: whatever else is there was not spooled by profd.
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            static_cast<uint64_t>(st.st_size) <= limit;
  if (ok) {
    out->resize(static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), prefix)));
    size_t done = 0;
    while (done < out->size()) {
      const ssize_t n = read(fd, out->data() + done, out->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ok = done == out->size();
  }
  close(fd);
  return ok;
}

// A spool file: its header lines, then the body. False for a file that is not one.
// The header lines are short: its first 4 KiB hold them.
constexpr uint64_t kSpoolHeaderBytes = 4096;

// The value of the header line "NAME VALUE"; "" when there is none.
std::string HeaderValue(const std::string& header, const std::string& name) {
  const size_t at = header.find("\n" + name + " ");
  if (at == std::string::npos) return "";
  const size_t from = at + name.size() + 2;
  return header.substr(from, header.find('\n', from) - from);
}

// The request a spool file holds: its backend, the query to append to the URL (pyroscope
// ingest) and the body.
struct SpooledPush {
  std::string backend, query, body;
};

bool ParseSpoolFile(const std::string& text, SpooledPush* push) {
  const size_t end = text.find("\n\n");
  if (end == std::string::npos || text.compare(0, std::strlen(kMagic), kMagic) != 0) return false;
  const std::string header = text.substr(0, end + 1);
  push->backend = HeaderValue(header, "exporter");
  push->query = HeaderValue(header, "query");
  push->body = text.substr(end + 2);
  return !push->backend.empty();
}

// Reads a secret from a file (a token or a password): its first line, without the newline.
std::string ReadSecret(const std::string& path) {
  std::string text;
  if (!ReadWholeFile(path, 64 << 10, &text)) return "";
  return text.substr(0, text.find_first_of("\r\n"));
}

// Whether `directory` is one only profd's user can write to: its files are pushed with the
// backends' credentials, so nobody else may plant one there.
bool TrustedSpool(const std::string& directory, std::string* why) {
  struct stat st;
  if (lstat(directory.c_str(), &st) != 0) {
    *why = directory + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
    *why = directory + " is not a directory of profd's user that only it may write to";
    return false;
  }
  return true;
}

// The spool files of `directory` (both kinds), oldest first: the names start with the time.
std::vector<std::string> SpoolFiles(const std::string& directory) {
  std::vector<std::string> names;
  DIR* dir = opendir(directory.c_str());
  if (!dir) return names;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (EndsWith(name, kSpoolSuffix) || EndsWith(name, kRefusedSuffix)) names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

size_t CollectAnswer(char* data, size_t size, size_t count, void* out) {
  auto* answer = static_cast<std::string*>(out);
  const size_t n = size * count;
  if (answer->size() < kMaxAnswerBytes)
    answer->append(data, std::min(n, kMaxAnswerBytes - answer->size()));
  return n;
}

size_t CollectRetryAfter(char* data, size_t size, size_t count, void* out) {
  const size_t n = size * count;
  std::string line(data, n);
  for (char& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (line.rfind("retry-after:", 0) == 0)
    *static_cast<long*>(out) = std::strtol(line.c_str() + 12, nullptr, 10);  // seconds form
  return n;
}

int AbortWhenStopping(void* stopping, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(stopping)->load() ? 1 : 0;
}

}  // namespace

PushExporter::PushExporter(std::function<DaemonConfig()> config)
    : config_(std::move(config)), hostname_(HostName()) {}

PushExporter::~PushExporter() { Stop(); }

void PushExporter::Start() {
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void PushExporter::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.request_stop();
  wake_.notify_all();
  thread_.join();
}

void PushExporter::Export(const ExportedProfile& profile) {
  const DaemonConfig config = config_();
  if (config.exporters.empty()) return;
  const std::string& dir = config.spool.directory;
  std::string why;
  if ((mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) || !TrustedSpool(dir, &why)) {
    if (why.empty()) why = "cannot create " + dir + ": " + std::strerror(errno);
    LogWarning("export: the spool is not usable: " + why);
    std::lock_guard<std::mutex> lock(metrics_mutex_);
    spool_write_errors_++;
    return;
  }
  const uint64_t nanos =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  for (const DaemonConfig::Exporter& exporter : config.exporters) {
    const std::string id = RandomId();
    std::string why_none;
    const std::string body = ExportBody(WireOf(exporter), profile, hostname_, id, &why_none);
    const std::string query = ExportQuery(WireOf(exporter), profile, hostname_);
    if (body.empty() && !why_none.empty()) {  // otlp: nothing a collector would keep
      std::lock_guard<std::mutex> lock(metrics_mutex_);
      dropped_[why_none]++;
      continue;
    }
    const std::string text = std::string(kMagic) + "\nexporter " + BackendKey(exporter) + "\nid " +
                             id + "\ntype " + profile.type + "\npid " +
                             std::to_string(profile.pid) + "\n" +
                             (query.empty() ? "" : "query " + query + "\n") + "\n" + body;
    char name[64];
    std::snprintf(name, sizeof(name), "%020" PRIu64 "-%06" PRIu64, nanos,
                  sequence_.fetch_add(1) % 1000000);
    const std::string path = dir + "/" + name + kSpoolSuffix;
    const std::string temporary = dir + "/." + name + ".tmp";
    // Whole or not at all: a crash mid-write leaves a temporary, never a cut profile.
    const int fd =
        open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    size_t done = 0;
    while (ok && done < text.size()) {
      const ssize_t n = write(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0;
      if (ok) done += static_cast<size_t>(n);
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    ok = ok && rename(temporary.c_str(), path.c_str()) == 0;
    std::lock_guard<std::mutex> lock(metrics_mutex_);
    if (!ok) {
      unlink(temporary.c_str());
      LogWarning("export: cannot write " + path + ": " + std::strerror(errno));
      spool_write_errors_++;
      continue;
    }
    spooled_++;
  }
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    new_work_ = true;
  }
  wake_.notify_all();
}

PushExporter::PushResult PushExporter::Push(const DaemonConfig::Exporter& exporter,
                                            const std::string& body, const std::string& query) {
  PushResult result;
  result.outcome = PushResult::kRetry;
  std::string why;
  const CurlLibrary* lib = CurlLibrary::Get(&why);
  if (!lib) {  // the profile stays spooled until libcurl can be loaded
    result.cause = "other";
    result.detail = why;
    return result;
  }
  CURL* curl = lib->easy_init();
  if (!curl) {
    result.cause = "other";
    result.detail = "cannot start libcurl";
    return result;
  }
  std::string url = exporter.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const ExportRoute route = RouteOf(WireOf(exporter));
  url += route.path + query;
  curl_slist* headers = nullptr;
  for (const std::string& header : route.headers)
    headers = lib->slist_append(headers, header.c_str());
  if (!exporter.tenant_id.empty())
    headers = lib->slist_append(headers, ("X-Scope-OrgID: " + exporter.tenant_id).c_str());
  if (!exporter.bearer_token_file.empty())
    headers = lib->slist_append(
        headers, ("Authorization: Bearer " + ReadSecret(exporter.bearer_token_file)).c_str());
  std::string password;
  if (!exporter.basic_auth_user.empty()) {
    password = ReadSecret(exporter.basic_auth_password_file);
    lib->easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    lib->easy_setopt(curl, CURLOPT_USERNAME, exporter.basic_auth_user.c_str());
    lib->easy_setopt(curl, CURLOPT_PASSWORD, password.c_str());
  }
  std::string answer;
  long retry_after = 0;
  lib->easy_setopt(curl, CURLOPT_URL, url.c_str());
  lib->easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  lib->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
  lib->easy_setopt(
      curl, CURLOPT_TIMEOUT_MS,
      static_cast<long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(exporter.timeout).count()));
  lib->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  lib->easy_setopt(curl, CURLOPT_USERAGENT, "profd/0.1.0");
  lib->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  lib->easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  lib->easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  lib->easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectAnswer);
  lib->easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  lib->easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectRetryAfter);
  lib->easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after);
  // A stopping daemon does not wait out a slow backend: the push is abandoned (and stays spooled).
  lib->easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  lib->easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, AbortWhenStopping);
  lib->easy_setopt(curl, CURLOPT_XFERINFODATA, &stopping_);
  const CURLcode code = lib->easy_perform(curl);
  long status = 0;
  lib->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  lib->slist_free_all(headers);
  lib->easy_cleanup(curl);

  if (code != CURLE_OK) {
    result.cause = code == CURLE_OPERATION_TIMEDOUT ? "timeout"
                   : code == CURLE_COULDNT_CONNECT  ? "connect"
                                                    : "transport";
    result.detail = lib->easy_strerror(code);
    return result;
  }
  static_cast<ExportAnswer&>(result) = ReadAnswer(WireOf(exporter), status, answer);
  result.retry_after =
      std::chrono::seconds(std::clamp<long>(retry_after, 0, kMaxRetryAfter.count()));
  return result;
}

SpoolRetention EnforceSpoolRetention(const DaemonConfig::Spool& spool,
                                     std::chrono::system_clock::time_point now) {
  SpoolRetention result;
  const uint64_t now_nanos = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
  const uint64_t max_age = static_cast<uint64_t>(spool.max_age.count());
  std::vector<std::pair<std::string, uint64_t>> kept;  // name, size; oldest first
  uint64_t total = 0;
  for (const std::string& name : SpoolFiles(spool.directory)) {
    const std::string path = spool.directory + "/" + name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const uint64_t written = std::strtoull(name.c_str(), nullptr, 10);
    if (written + max_age < now_nanos && unlink(path.c_str()) == 0) {
      result.dropped_for_age++;
      continue;
    }
    kept.push_back({name, static_cast<uint64_t>(st.st_size)});
    total += static_cast<uint64_t>(st.st_size);
  }
  // ".<time>-<sequence>.tmp", as Export names them.
  if (DIR* dir = opendir(spool.directory.c_str())) {
    while (dirent* entry = readdir(dir)) {
      const std::string name = entry->d_name;
      if (name.size() < 2 || name[0] != '.' || !EndsWith(name, ".tmp") ||
          !std::isdigit(static_cast<unsigned char>(name[1])))
        continue;
      const uint64_t written = std::strtoull(name.c_str() + 1, nullptr, 10);
      const std::string path = spool.directory + "/" + name;
      struct stat st;
      if (written + 60000000000ULL < now_nanos && lstat(path.c_str(), &st) == 0 &&
          S_ISREG(st.st_mode) && st.st_uid == geteuid() && unlink(path.c_str()) == 0)
        result.temporaries_removed++;
    }
    closedir(dir);
  }
  size_t first = 0;
  for (; total > spool.max_bytes && first < kept.size(); first++) {  // the oldest go first
    if (unlink((spool.directory + "/" + kept[first].first).c_str()) != 0) continue;
    total -= kept[first].second;
    result.dropped_for_bytes++;
  }
  result.bytes_left = total;
  result.files_left = kept.size() - result.dropped_for_bytes;
  return result;
}

std::chrono::steady_clock::time_point PushExporter::Pass(const DaemonConfig& config) {
  const auto now = std::chrono::steady_clock::now();
  const std::string& dir = config.spool.directory;
  std::string why;
  if (!TrustedSpool(dir, &why)) {
    if (errno != ENOENT && refusals_logged_.insert("spool " + why).second)
      LogWarning("export: nothing is pushed from the spool: " + why);
    return now + std::chrono::seconds(1);
  }
  // A new exporters' configuration gets another try at what its backends refused.
  if (config.exporters != last_exporters_) {
    for (const std::string& name : SpoolFiles(dir)) {
      if (!EndsWith(name, kRefusedSuffix)) continue;
      const std::string base = name.substr(0, name.size() - std::strlen(kRefusedSuffix));
      rename((dir + "/" + name).c_str(), (dir + "/" + base + kSpoolSuffix).c_str());
    }
    last_exporters_ = config.exporters;
    backoff_.clear();
  }
  const SpoolRetention retention =
      EnforceSpoolRetention(config.spool, std::chrono::system_clock::now());
  {
    std::lock_guard<std::mutex> lock(metrics_mutex_);
    dropped_["age"] += retention.dropped_for_age;
    dropped_["bytes"] += retention.dropped_for_bytes;
    dropped_["temporary"] += retention.temporaries_removed;
    spool_bytes_ = retention.bytes_left;
    spool_files_ = retention.files_left;
  }
  auto next = now + std::chrono::seconds(1);
  // While every backend backs off, the spool is not read at all (it may hold thousands).
  auto all_backing_off = [&] {
    for (const DaemonConfig::Exporter& e : config.exporters) {
      auto it = backoff_.find(BackendKey(e));
      if (it == backoff_.end() || it->second.until <= std::chrono::steady_clock::now())
        return false;
    }
    return true;
  };
  for (const std::string& name : SpoolFiles(dir)) {
    if (!EndsWith(name, kSpoolSuffix)) continue;
    if (stopping_ || all_backing_off()) break;
    const std::string path = dir + "/" + name;
    // The header first: a file for a backend that backs off is not read whole.
    std::string text;
    SpooledPush spooled;
    if (!ReadWholeFile(path, config.spool.max_bytes, &text, kSpoolHeaderBytes)) continue;
    if (!ParseSpoolFile(text, &spooled) &&  // a header longer than that (a long url)
        (!ReadWholeFile(path, config.spool.max_bytes, &text) || !ParseSpoolFile(text, &spooled)))
      continue;
    std::string backend = spooled.backend;
    const auto exporter =
        std::find_if(config.exporters.begin(), config.exporters.end(),
                     [&](const DaemonConfig::Exporter& e) { return BackendKey(e) == backend; });
    if (exporter == config.exporters.end()) continue;  // kept until it ages out or comes back
    Backoff& backoff = backoff_[backend];
    if (backoff.until > std::chrono::steady_clock::now()) {
      next = std::min(next, backoff.until);
      continue;
    }
    if (!ReadWholeFile(path, config.spool.max_bytes, &text) || !ParseSpoolFile(text, &spooled) ||
        spooled.backend != backend)
      continue;
    const auto started = std::chrono::steady_clock::now();
    const PushResult result = Push(*exporter, spooled.body, spooled.query);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::lock_guard<std::mutex> lock(metrics_mutex_);
    push_seconds_sum_ += seconds;
    push_seconds_count_++;
    if (result.outcome == PushResult::kDelivered) {
      unlink(path.c_str());
      pushed_++;
      backoff = {};
      // An OTLP partial success: taken, but some of it dropped (or a warning). Logged once per
      // message, as it repeats for every profile.
      rejected_in_part_ += static_cast<uint64_t>(std::max<int64_t>(result.rejected_profiles, 0));
      if ((result.rejected_profiles > 0 || !result.warning.empty()) &&
          refusals_logged_.insert(backend + " partial " + result.warning).second)
        LogWarning("export: " + backend + " took a profile but rejected " +
                   std::to_string(result.rejected_profiles) +
                   " of its profiles: " + result.warning);
      continue;
    }
    failed_[result.cause]++;
    if (result.outcome == PushResult::kRefused) {
      rename(path.c_str(),
             (path.substr(0, path.size() - std::strlen(kSpoolSuffix)) + kRefusedSuffix).c_str());
      refused_++;
      // Once per backend and answer: a refusal repeats for every profile until fixed.
      if (refusals_logged_.insert(backend + result.detail).second)
        LogWarning("export: " + backend + " refused a profile (kept in " + dir +
                   " until the exporters' configuration changes): " + result.detail);
      continue;
    }
    // The backend may be down: everything for it waits, 0.5 s doubling to 30 s, ±50%. Another
    // answer than last time (a 500 after refused connections: it is up again) starts over.
    retried_++;
    backoff.failures = backoff.cause == result.cause ? backoff.failures + 1 : 1;
    backoff.cause = result.cause;
    const double base =
        std::min(kMaxBackoffSeconds,
                 kFirstBackoffSeconds * std::ldexp(1.0, std::min(backoff.failures - 1, 10)));
    static thread_local std::mt19937_64 random{std::random_device{}()};
    const double wait =
        std::max<double>(base * std::uniform_real_distribution<double>(0.5, 1.5)(random),
                         static_cast<double>(result.retry_after.count()));
    backoff.until = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                        std::chrono::duration<double>(wait));
    if (backoff.failures == 1 || backoff.failures % 10 == 0)
      LogWarning("export: push to " + backend + " failed (" + result.detail + "); " +
                 std::to_string(backoff.failures) + " in a row, retrying in " +
                 std::to_string(static_cast<int>(wait)) + " s");
    next = std::min(next, backoff.until);
  }
  for (const auto& [key, b] : backoff_)
    if (b.until > std::chrono::steady_clock::now()) next = std::min(next, b.until);
  return next;
}

void PushExporter::Run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const DaemonConfig config = config_();
    const auto next = config.exporters.empty() && last_exporters_.empty()
                          ? std::chrono::steady_clock::now() + std::chrono::seconds(1)
                          : Pass(config);
    std::unique_lock<std::mutex> lock(wake_mutex_);
    wake_.wait_until(lock, stop, next, [this] { return new_work_; });
    new_work_ = false;
  }
}

std::string PushExporter::MetricsText() const {
  std::lock_guard<std::mutex> lock(metrics_mutex_);
  std::string out;
  auto counter = [&out](const std::string& name, const std::string& help, uint64_t value) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " +
           std::to_string(value) + "\n";
  };
  auto by_label = [&out](const std::string& name, const std::string& help, const char* label,
                         const std::map<std::string, uint64_t>& values) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n";
    for (const auto& [key, value] : values)
      out += name + "{" + label + "=\"" + key + "\"} " + std::to_string(value) + "\n";
  };
  counter("profd_export_spooled_total", "Profiles written into the spool, once per exporter.",
          spooled_);
  counter("profd_export_pushed_total", "Profiles a backend took.", pushed_);
  by_label("profd_export_failed_total", "Pushes that failed, by cause.", "cause", failed_);
  counter("profd_export_retried_total", "Failed pushes left in the spool for a retry.", retried_);
  counter("profd_export_rejected_in_part_total",
          "Profiles an OTLP collector rejected within a request it took (partial success).",
          rejected_in_part_);
  counter("profd_export_refused_total",
          "Profiles a backend refused (4xx), kept until the exporters' configuration changes.",
          refused_);
  by_label("profd_export_dropped_total",
           "Profiles dropped before delivery, by reason (age, bytes; temporary: a write cut short; "
           "no_samples, not_pprof: no OTLP request to make).",
           "reason", dropped_);
  counter("profd_export_spool_write_errors_total", "Profiles that could not be spooled.",
          spool_write_errors_);
  out +=
      "# HELP profd_export_spool_bytes Bytes of profiles in the spool.\n"
      "# TYPE profd_export_spool_bytes gauge\nprofd_export_spool_bytes " +
      std::to_string(spool_bytes_) +
      "\n# HELP profd_export_spool_profiles Profiles in the spool.\n"
      "# TYPE profd_export_spool_profiles gauge\nprofd_export_spool_profiles " +
      std::to_string(spool_files_) + "\n";
  char line[600];
  std::snprintf(line, sizeof(line),
                "# HELP profd_export_push_seconds Time pushes took.\n"
                "# TYPE profd_export_push_seconds summary\nprofd_export_push_seconds_sum %.6f\n"
                "profd_export_push_seconds_count %" PRIu64 "\n",
                push_seconds_sum_, push_seconds_count_);
  return out + line;
}

}  // namespace profd
