#include <yaml-cpp/yaml.h>

#include <charconv>
#include <string>

#include "daemon_config.h"
#include "units.h"

namespace profd {

std::string DaemonConfigToYaml(const DaemonConfig& c) {
  YAML::Emitter out;
  auto strings = [&out](const std::vector<std::string>& items) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const std::string& item : items) out << item;
    out << YAML::EndSeq;
  };
  char percent[32];
  const auto [percent_end, ec] =
      std::to_chars(percent, percent + sizeof percent, c.heap.max_overhead_percent);
  out << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << c.listen;
  out << YAML::Key << "socket_path" << YAML::Value << c.socket_path;
  out << YAML::Key << "token_file" << YAML::Value << c.token_file;
  out << YAML::Key << "frequency_hz" << YAML::Value << c.frequency_hz;
  out << YAML::Key << "unwind" << YAML::Value << (c.dwarf_unwinding ? "dwarf" : "fp");
  out << YAML::Key << "schedule" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "interval" << YAML::Value << FormatDuration(c.schedule.interval);
  out << YAML::Key << "cpu_seconds" << YAML::Value << FormatDuration(c.schedule.cpu_seconds);
  out << YAML::Key << "types" << YAML::Value;
  strings(c.schedule.types);
  out << YAML::EndMap;
  out << YAML::Key << "targets" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "all" << YAML::Value << c.targets.all;
  out << YAML::Key << "pids" << YAML::Value << YAML::Flow << YAML::BeginSeq;
  for (pid_t pid : c.targets.pids) out << pid;
  out << YAML::EndSeq;
  out << YAML::Key << "process_names" << YAML::Value;
  strings(c.targets.process_names);
  out << YAML::Key << "cgroups" << YAML::Value;
  strings(c.targets.cgroups);
  out << YAML::EndMap;
  out << YAML::Key << "store" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "directory" << YAML::Value << c.store.directory;
  out << YAML::Key << "max_age" << YAML::Value << FormatDuration(c.store.max_age);
  out << YAML::Key << "max_bytes" << YAML::Value << FormatByteSize(c.store.max_bytes);
  out << YAML::EndMap;
  out << YAML::Key << "limits" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_concurrent_requests" << YAML::Value << c.limits.max_concurrent_requests;
  out << YAML::Key << "max_seconds" << YAML::Value << FormatDuration(c.limits.max_seconds);
  out << YAML::Key << "max_targets" << YAML::Value << c.limits.max_targets;
  out << YAML::Key << "max_cumulative_profiles" << YAML::Value << c.limits.max_cumulative_profiles;
  out << YAML::Key << "cumulative_idle_expiry" << YAML::Value
      << FormatDuration(c.limits.cumulative_idle_expiry);
  out << YAML::EndMap;
  out << YAML::Key << "heap" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "sample_rate" << YAML::Value << FormatByteSize(c.heap.sample_rate);
  // Shortest text that reads back to the same double.
  out << YAML::Key << "max_overhead_percent" << YAML::Value << std::string(percent, percent_end);
  out << YAML::EndMap;
  out << YAML::Key << "block" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "min_block" << YAML::Value << FormatDuration(c.block.min_block);
  out << YAML::EndMap;
  out << YAML::Key << "security" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "admin_group" << YAML::Value << c.security.admin_group;
  out << YAML::Key << "kernel_frames" << YAML::Value << c.security.kernel_frames;
  out << YAML::EndMap;
  out << YAML::Key << "export" << YAML::Value;
  if (c.exporters.empty()) out << YAML::Flow;  // "export: []"
  out << YAML::BeginSeq;
  for (const DaemonConfig::Exporter& e : c.exporters) {
    out << YAML::BeginMap;
    out << YAML::Key << "kind" << YAML::Value << e.kind;
    if (e.kind == "pyroscope") out << YAML::Key << "api" << YAML::Value << e.api;
    out << YAML::Key << "url" << YAML::Value << e.url;
    out << YAML::Key << "bearer_token_file" << YAML::Value << e.bearer_token_file;
    out << YAML::Key << "basic_auth_user" << YAML::Value << e.basic_auth_user;
    out << YAML::Key << "basic_auth_password_file" << YAML::Value << e.basic_auth_password_file;
    out << YAML::Key << "tenant_id" << YAML::Value << e.tenant_id;
    out << YAML::Key << "timeout" << YAML::Value << FormatDuration(e.timeout);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  out << YAML::Key << "labels" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "service_name" << YAML::Value;
  if (c.labels.service_name.empty()) out << YAML::Flow;
  out << YAML::BeginSeq;
  for (const ServiceNameRule& rule : c.labels.service_name)
    out << YAML::BeginMap << YAML::Key << "match_" + rule.match << YAML::Value << rule.pattern
        << YAML::Key << "value" << YAML::Value << rule.value << YAML::EndMap;
  out << YAML::EndSeq << YAML::EndMap;
  out << YAML::Key << "spool" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "directory" << YAML::Value << c.spool.directory;
  out << YAML::Key << "max_bytes" << YAML::Value << FormatByteSize(c.spool.max_bytes);
  out << YAML::Key << "max_age" << YAML::Value << FormatDuration(c.spool.max_age);
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace profd
