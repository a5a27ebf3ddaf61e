// The daemon's YAML configuration (SIGHUP re-reads it): parse, and for a file that parses, the
// effective configuration written back must read back equal.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon_config.h"
#include "profiles/profile_types.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  static const std::vector<profd::KnownProfileType> types = profd::ScheduleTypeNames();
  profd::DaemonConfig config;
  std::string error;
  if (!profd::ParseDaemonConfig(text, "<fuzz>", types, &config, &error)) return 0;
  const std::string yaml = profd::DaemonConfigToYaml(config);
  profd::DaemonConfig again;
  if (!profd::ParseDaemonConfig(yaml, "<fuzz round trip>", types, &again, &error)) abort();
  if (!(again == config)) abort();
  return 0;
}
