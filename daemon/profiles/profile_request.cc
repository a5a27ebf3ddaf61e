#include "profiles/profile_request.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace profd {

bool ParsePidList(const std::string& text, std::vector<pid_t>* pids, std::string* error) {
  std::stringstream ss(text);
  std::string item;
  pids->clear();
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value <= 0 || value > 4194304) {
      *error =
          "--pid: '" + item + "' is not a process id (expected positive numbers, e.g. 1234,5678)";
      return false;
    }
    if (std::find(pids->begin(), pids->end(), value) != pids->end()) continue;
    if (pids->size() == kMaxPidsPerRequest) {
      *error = "--pid: more than " + std::to_string(kMaxPidsPerRequest) +
               " processes in one request; use --all, or profile them in several requests";
      return false;
    }
    pids->push_back(static_cast<pid_t>(value));
  }
  if (pids->empty()) {
    *error = "--pid: no process id given";
    return false;
  }
  return true;
}

}  // namespace profd
