#include "service/export_request.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string_view>

#include "otlp/profiles_service.pb.h"
#include "otlp/status.pb.h"
#include "profile_builder.h"
#include "profiles/profile_types.h"
#include "pyroscope_push.pb.h"
#include "utf8.h"

namespace profd {

std::string PyroscopeProfileName(const std::string& type) {
  const ProfileTypeInfo* info = FindProfileType(type);
  return info && info->pyroscope_name ? info->pyroscope_name : type;
}

std::vector<std::pair<std::string, std::string>> PushLabels(const ExportedProfile& p,
                                                            const std::string& hostname) {
  std::vector<std::pair<std::string, std::string>> labels = {
      {"__delta__", "false"},  // windows, not cumulative counts: no server-side differencing
      {"__name__", PyroscopeProfileName(p.type)},
      {"comm", p.comm},
      {"container_id", p.container_id},
      {"exe", p.exe},
      {"hostname", hostname},
      {"pid", std::to_string(p.pid)},
      {"service_name", p.service_name},
  };
  std::erase_if(labels, [](const auto& label) { return label.second.empty(); });
  return labels;
}

std::string PyroscopePushBody(const ExportedProfile& profile, const std::string& hostname,
                              const std::string& id) {
  pyroscope::PushRequest request;
  pyroscope::RawProfileSeries* series = request.add_series();
  for (const auto& [name, value] : PushLabels(profile, hostname)) {
    pyroscope::LabelPair* label = series->add_labels();
    label->set_name(name);
    label->set_value(value);
  }
  pyroscope::RawSample* sample = series->add_samples();
  sample->set_raw_profile(profile.gzipped);
  sample->set_id(id);
  return request.SerializeAsString();
}

namespace {

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : ToValidUtf8(text)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", static_cast<unsigned char>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63],
            kAlphabet[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v =
        (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

std::string ParcaWriteRawBody(const ExportedProfile& profile, const std::string& hostname) {
  std::string labels;
  for (const auto& [name, value] : PushLabels(profile, hostname)) {
    if (name == "__delta__") continue;  // Pyroscope's; Parca takes windows as they are
    labels += std::string(labels.empty() ? "" : ",") + "{\"name\":" + JsonString(name) +
              ",\"value\":" + JsonString(value) + "}";
  }
  return "{\"series\":[{\"labels\":{\"labels\":[" + labels + "]},\"samples\":[{\"raw_profile\":\"" +
         Base64(profile.gzipped) + "\"}]}],\"normalized\":false}";
}

std::vector<OtlpAttribute> OtlpResourceAttributes(const ExportedProfile& p,
                                                  const std::string& hostname) {
  const std::string exe_name = p.exe.empty() ? p.comm : p.exe.substr(p.exe.rfind('/') + 1);
  std::vector<OtlpAttribute> attributes = {
      {"service.name", p.service_name},  // semantic conventions' names
      {"host.name", hostname},
      {"process.pid", int64_t{p.pid}},
      {"process.executable.name", exe_name},
      {"process.executable.path", p.exe},
      {"container.id", p.container_id},
  };
  std::erase_if(attributes, [](const OtlpAttribute& a) {
    const auto* text = std::get_if<std::string>(&a.value);
    return text && text->empty();
  });
  for (OtlpAttribute& a : attributes)  // OTLP's strings are UTF-8, as pprof's
    if (auto* text = std::get_if<std::string>(&a.value)) *text = ToValidUtf8(*text);
  return attributes;
}

namespace {

// The 16 bytes of a UUID's 32 hex digits; "" for anything else.
std::string UuidBytes(const std::string& uuid) {
  std::string hex;
  for (const char c : uuid)
    if (c != '-') hex += c;
  if (hex.size() != 32) return "";
  std::string bytes;
  for (size_t i = 0; i < 32; i += 2) {
    unsigned value = 0;
    if (!std::isxdigit(static_cast<unsigned char>(hex[i])) ||
        !std::isxdigit(static_cast<unsigned char>(hex[i + 1])) ||
        std::sscanf(hex.c_str() + i, "%2x", &value) != 1)
      return "";
    bytes += static_cast<char>(value);
  }
  return bytes;
}

}  // namespace

std::string OtlpExportBody(const ExportedProfile& profile, const std::string& hostname,
                           const std::string& id, std::string* why) {
  perftools::profiles::Profile pprof;
  if (!ParseGzippedProfile(profile.gzipped, &pprof)) {
    *why = "not_pprof";
    return "";
  }
  const auto request = PprofToOtlp(pprof, OtlpResourceAttributes(profile, hostname),
                                   {"profd", "0.1.0"} /* as the User-Agent */, UuidBytes(id));
  if (OtlpSampleCount(request) == 0) {
    *why = "no_samples";
    return "";
  }
  return Gzip(request.SerializeAsString());
}

std::string ExportWire(const std::string& kind, const std::string& api) {
  return kind == "pyroscope" && api == "ingest" ? "pyroscope_ingest" : kind;
}

namespace {

// %XX for all but URL's unreserved characters, as a query value.
std::string PercentEncoded(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out += c;
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof(escaped), "%%%02X", static_cast<unsigned char>(c));
      out += escaped;
    }
  }
  return out;
}

// The characters Pyroscope's labelset parser allows in an application name.
std::string IngestServiceName(std::string name) {
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-' &&
        c != '/')
      c = '_';
  return name.empty() ? "unknown" : name;
}

}  // namespace

std::string PyroscopeIngestQuery(const ExportedProfile& profile, const std::string& hostname) {
  std::string name = IngestServiceName(profile.service_name) + "{";
  bool first = true;
  for (auto [key, value] : PushLabels(profile, hostname)) {
    // The server sets __name__, __delta__ and service_name itself.
    if (key.starts_with("__") || key == "service_name") continue;
    value = ToValidUtf8(value);
    std::replace_if(
        value.begin(), value.end(), [](char c) { return c == ',' || c == '}'; }, '_');
    name += (first ? "" : ",") + key + "=" + value;
    first = false;
  }
  name += "}";
  auto unix_seconds = [](std::chrono::system_clock::time_point t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  return "?name=" + PercentEncoded(name) + "&from=" + unix_seconds(profile.start) +
         "&until=" + unix_seconds(profile.end) + "&format=pprof&spyName=profd";
}

std::string ExportBody(const std::string& wire, const ExportedProfile& profile,
                       const std::string& hostname, const std::string& id, std::string* why) {
  if (wire == "parca") return ParcaWriteRawBody(profile, hostname);
  if (wire == "otlp") return OtlpExportBody(profile, hostname, id, why);
  if (wire == "pyroscope_ingest") return profile.gzipped;  // the query says the rest
  return PyroscopePushBody(profile, hostname, id);
}

std::string ExportQuery(const std::string& wire, const ExportedProfile& profile,
                        const std::string& hostname) {
  return wire == "pyroscope_ingest" ? PyroscopeIngestQuery(profile, hostname) : "";
}

ExportRoute RouteOf(const std::string& wire) {
  if (wire == "parca") return {"/api/profiles/writeraw", {"Content-Type: application/json"}};
  if (wire == "pyroscope_ingest") return {"/ingest", {"Content-Type: application/octet-stream"}};
  if (wire == "otlp")
    return {"/v1development/profiles",
            {"Content-Type: application/x-protobuf", "Content-Encoding: gzip"}};
  return {"/push.v1.PusherService/Push",
          {"Content-Type: application/proto", "Connect-Protocol-Version: 1"}};
}

namespace {

std::string Printable(std::string text) {
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  return text;
}

}  // namespace

ExportAnswer ReadAnswer(const std::string& wire, long status, const std::string& body) {
  ExportAnswer answer;
  const bool otlp = wire == "otlp";
  if (status >= 200 && status < 300) {
    answer.outcome = ExportAnswer::kDelivered;
    opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceResponse
        response;
    if (otlp && response.ParseFromString(body) && response.has_partial_success()) {
      answer.rejected_profiles = response.partial_success().rejected_profiles();
      answer.warning = Printable(ToValidUtf8(response.partial_success().error_message()));
    }
    return answer;
  }
  // An OTLP error's body is a google.rpc.Status; its message says why.
  google::rpc::Status rpc_status;
  const std::string reason =
      otlp && rpc_status.ParseFromString(body) && !rpc_status.message().empty()
          ? rpc_status.message()
          : body;
  answer.detail = "HTTP " + std::to_string(status) + ": " + Printable(ToValidUtf8(reason));
  if (status == 429) {
    answer.cause = "http_429";
  } else if (otlp ? status == 502 || status == 503 || status == 504
                  : status >= 500 || status == 408) {
    answer.cause = status >= 500 ? "http_5xx" : "http_408";
  } else {  // OTLP/HTTP: every other error is final, a 500 too
    answer.outcome = ExportAnswer::kRefused;
    answer.cause = status >= 500 ? "http_5xx" : "http_4xx";
  }
  return answer;
}

}  // namespace profd
