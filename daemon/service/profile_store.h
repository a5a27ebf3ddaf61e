// The continuous-profiling store: one gzipped pprof file per profile in one directory, named
// <UTC time>-<type>-<pid>-<comm>.pb.gz so that `ls` sorts it by time and a glob finds a type, pid
// or command. Files are written atomically and pruned by age and total size.
//
// The store keeps no state beyond its settings: every call reads the directory, so `profd --list`
// in another process sees what the daemon wrote.
#ifndef PROFD_DAEMON_SERVICE_PROFILE_STORE_H
#define PROFD_DAEMON_SERVICE_PROFILE_STORE_H

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace profd {

struct StoredProfileInfo {
  std::chrono::system_clock::time_point time;  // kept to the second (UTC)
  std::string type;                            // a profile type name: [a-z0-9_]+, e.g. "cpu"
  pid_t pid = 0;                               // 0 for a whole-host profile
  std::string comm;                            // sanitized into the name by SanitizeComm
};

struct StoredProfile {
  StoredProfileInfo info;  // as parsed back from the name
  std::string path;
  uint64_t size = 0;
};

struct RetentionResult {
  int removed_for_age = 0;
  int removed_for_size = 0;
  uint64_t bytes_removed = 0;
  int kept = 0;
  uint64_t bytes_kept = 0;
  std::vector<std::string> errors;  // files that could not be removed, with the reason
};

// Maps every byte outside [A-Za-z0-9._-] to '_' (a command name may hold '/', spaces or UTF-8);
// "unknown" when empty.
std::string SanitizeComm(const std::string& comm);

// "20240501T120000Z-cpu-1234-nginx.pb.gz". The type must be a valid type name (see above).
std::string StoredProfileName(const StoredProfileInfo& info);

// Parses a name made by StoredProfileName; false for anything else (other files, temporaries).
bool ParseStoredProfileName(const std::string& name, StoredProfileInfo* info);

class ProfileStore {
 public:
  // A zero max_age or max_bytes means no limit of that kind.
  ProfileStore(std::string directory, std::chrono::seconds max_age, uint64_t max_bytes);

  // Creates the directory (0750, parents 0755) if missing, checks that it can be written, and
  // removes temporaries a crash left behind mid-write. False with `error` set when unusable.
  bool Init(std::string* error);

  // Writes one profile whole or not at all (temporary, fsync, rename, directory fsync): a crash or
  // a full disk leaves no partial file. Refuses to replace an existing profile of the same name.
  // On success `path` (may be null) is the file written.
  bool Write(const StoredProfileInfo& info, const std::string& gzipped, std::string* path,
             std::string* error);

  // The stored profiles, oldest first. Files whose names are not ours are ignored. `error` (may be
  // null) is set when the directory cannot be read.
  std::vector<StoredProfile> List(std::string* error = nullptr) const;

  // Removes the profiles older than max_age at `now`, then the oldest until the total size is at
  // most max_bytes.
  RetentionResult EnforceRetention(std::chrono::system_clock::time_point now) const;

  const std::string& directory() const { return directory_; }

 private:
  std::string directory_;
  std::chrono::seconds max_age_;
  uint64_t max_bytes_;
};

// The table `profd --list` prints: time, type, pid, command, size, path; then a total.
std::string FormatStoreList(const std::vector<StoredProfile>& profiles);

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_PROFILE_STORE_H
