// What the otlp exporter kind sends and how it reads a collector's answers (export_request.h).
#include "service/export_request.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "otlp/profiles_service.pb.h"
#include "otlp/status.pb.h"
#include "profile_builder.h"

namespace profd {
namespace {

using Request =
    opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;
using Response =
    opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceResponse;

ExportedProfile CpuProfile(int samples) {
  ProfileBuilder builder({{"samples", "count"}, {"cpu", "nanoseconds"}}, "cpu",
                         {"cpu", "nanoseconds"}, 10'000'000);
  LineInfo main_line;
  main_line.function = "main";
  const uint64_t location = builder.AddLocation(0, 0x1000, {main_line});
  for (int i = 0; i < samples; i++)
    builder.AddSample({location}, {1, 10'000'000}, {Label::Number("tid", 100 + i)});
  ExportedProfile p;
  p.type = "cpu";
  p.pid = 42;
  p.comm = "api";
  p.exe = "/usr/bin/api-server";
  p.service_name = "api.service";
  p.gzipped = builder.SerializeGzipped();
  return p;
}

TEST(OtlpExport, BodyIsTheGzippedRequestWithSemanticConventionResource) {
  std::string why;
  const std::string body =
      OtlpExportBody(CpuProfile(2), "host-1", "00112233-4455-4677-8899-aabbccddeeff", &why);
  ASSERT_FALSE(body.empty()) << why;
  std::string serialized;
  ASSERT_TRUE(Gunzip(body, &serialized));
  Request request;
  ASSERT_TRUE(request.ParseFromString(serialized));
  ASSERT_EQ(request.resource_profiles_size(), 1);
  std::map<std::string, std::string> attributes;
  for (const auto& kv : request.resource_profiles(0).resource().attributes())
    attributes[kv.key()] = kv.value().has_int_value() ? std::to_string(kv.value().int_value())
                                                      : kv.value().string_value();
  EXPECT_EQ(attributes, (std::map<std::string, std::string>{
                            {"service.name", "api.service"},
                            {"host.name", "host-1"},
                            {"process.pid", "42"},
                            {"process.executable.name", "api-server"},
                            {"process.executable.path", "/usr/bin/api-server"}}));
  const auto& profiles = request.resource_profiles(0).scope_profiles(0).profiles();
  ASSERT_EQ(profiles.size(), 2);
  EXPECT_EQ(profiles[0].profile_id(),
            std::string("\x00\x11\x22\x33\x44\x55\x46\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff", 16));
  EXPECT_EQ(profiles[0].samples_size(), 2);
}

TEST(OtlpExport, ExecutableNameIsCommWhenThePathIsUnknown) {
  ExportedProfile p = CpuProfile(1);
  p.exe = "";
  p.container_id = "abc123";
  std::map<std::string, std::string> attributes;
  for (const OtlpAttribute& a : OtlpResourceAttributes(p, "h"))
    if (const auto* text = std::get_if<std::string>(&a.value)) attributes[a.key] = *text;
  EXPECT_EQ(attributes["process.executable.name"], "api");
  EXPECT_EQ(attributes.count("process.executable.path"), 0u);
  EXPECT_EQ(attributes["container.id"], "abc123");
}

TEST(OtlpExport, NothingToSendForAProfileWithoutSamplesOrNotPprof) {
  std::string why;
  EXPECT_EQ(OtlpExportBody(CpuProfile(0), "h", "", &why), "");
  EXPECT_EQ(why, "no_samples");
  ExportedProfile junk = CpuProfile(1);
  junk.gzipped = "not gzip";
  EXPECT_EQ(ExportBody("otlp", junk, "h", "", &why), "");
  EXPECT_EQ(why, "not_pprof");
}

TEST(OtlpExport, RouteIsV1DevelopmentProfilesInGzippedProtobuf) {
  const ExportRoute route = RouteOf("otlp");
  EXPECT_EQ(route.path, "/v1development/profiles");
  EXPECT_EQ(route.headers, (std::vector<std::string>{"Content-Type: application/x-protobuf",
                                                     "Content-Encoding: gzip"}));
  EXPECT_EQ(RouteOf("pyroscope").path, "/push.v1.PusherService/Push");
  EXPECT_EQ(RouteOf("parca").path, "/api/profiles/writeraw");
}

TEST(PyroscopeIngest, QueryNamesTheServiceWithLabelsInBracesAndTheWindow) {
  ExportedProfile p = CpuProfile(1);
  p.service_name = "getty@tty1.service";  // '@' is not in an application name
  p.comm = "a,b}c";                       // nor ',' and '}' in a label value
  p.container_id = "";
  p.start = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  p.end = p.start + std::chrono::seconds(10);
  EXPECT_EQ(ExportWire("pyroscope", "ingest"), "pyroscope_ingest");
  EXPECT_EQ(ExportWire("pyroscope", "connect"), "pyroscope");
  EXPECT_EQ(ExportWire("otlp", "connect"), "otlp");
  // getty_tty1.service{comm=a_b_c,exe=/usr/bin/api-server,hostname=h 1,pid=42}, percent-encoded.
  EXPECT_EQ(ExportQuery("pyroscope_ingest", p, "h 1"),
            "?name=getty_tty1.service%7Bcomm%3Da_b_c%2Cexe%3D%2Fusr%2Fbin%2Fapi-server%2C"
            "hostname%3Dh%201%2Cpid%3D42%7D&from=1700000000&until=1700000010&format=pprof"
            "&spyName=profd");
  EXPECT_EQ(ExportQuery("pyroscope", p, "h"), "");
  std::string why;
  EXPECT_EQ(ExportBody("pyroscope_ingest", p, "h", "id", &why), p.gzipped);  // as it is
  const ExportRoute route = RouteOf("pyroscope_ingest");
  EXPECT_EQ(route.path, "/ingest");
  EXPECT_EQ(route.headers, (std::vector<std::string>{"Content-Type: application/octet-stream"}));
  EXPECT_EQ(ReadAnswer("pyroscope_ingest", 422, "bad").outcome, ExportAnswer::kRefused);
  EXPECT_EQ(ReadAnswer("pyroscope_ingest", 503, "").outcome, ExportAnswer::kRetry);
}

TEST(OtlpExport, AnswersAsTheOtlpHttpSpecSaysWhichMayPass) {
  for (const long status : {429L, 502L, 503L, 504L})
    EXPECT_EQ(ReadAnswer("otlp", status, "").outcome, ExportAnswer::kRetry) << status;
  for (const long status : {400L, 401L, 404L, 413L, 415L, 500L, 501L})
    EXPECT_EQ(ReadAnswer("otlp", status, "").outcome, ExportAnswer::kRefused) << status;
  // The other kinds keep retrying any 5xx.
  EXPECT_EQ(ReadAnswer("pyroscope", 500, "").outcome, ExportAnswer::kRetry);
  EXPECT_EQ(ReadAnswer("parca", 400, "").outcome, ExportAnswer::kRefused);
}

TEST(OtlpExport, AnErrorSaysTheStatusMessage) {
  google::rpc::Status status;
  status.set_code(3);
  status.set_message("proto: cannot parse invalid wire-format data");
  const ExportAnswer answer = ReadAnswer("otlp", 400, status.SerializeAsString());
  EXPECT_EQ(answer.cause, "http_4xx");
  EXPECT_EQ(answer.detail, "HTTP 400: proto: cannot parse invalid wire-format data");
  // Not a Status (a proxy's text page): shown as it is, printable.
  EXPECT_EQ(ReadAnswer("otlp", 415, "415 unsupported\nmedia type").detail,
            "HTTP 415: 415 unsupported media type");
}

TEST(OtlpExport, PartialSuccessIsDeliveredAndCounted) {
  Response response;
  response.mutable_partial_success()->set_rejected_profiles(2);
  response.mutable_partial_success()->set_error_message("too many attributes");
  const ExportAnswer answer = ReadAnswer("otlp", 200, response.SerializeAsString());
  EXPECT_EQ(answer.outcome, ExportAnswer::kDelivered);
  EXPECT_EQ(answer.rejected_profiles, 2);
  EXPECT_EQ(answer.warning, "too many attributes");
  const ExportAnswer plain = ReadAnswer("otlp", 200, "");
  EXPECT_EQ(plain.outcome, ExportAnswer::kDelivered);
  EXPECT_EQ(plain.rejected_profiles, 0);
  EXPECT_EQ(plain.warning, "");
}

}  // namespace
}  // namespace profd
