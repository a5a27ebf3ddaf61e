// Unit tests of PprofToOtlp: a profile ProfileBuilder wrote, read back out of the OTLP request's
// dictionary by index, must say what the pprof profile said.
#include "otlp_profile.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "profile_builder.h"

namespace profd {
namespace {

namespace otlp = opentelemetry::proto::profiles::v1development;
using Request =
    opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;

const std::string kProfileId = "0123456789abcdef";

// Three samples over an inline frame in a mapped binary and a frame with no mapping.
Request CpuRequest() {
  ProfileBuilder builder({{"samples", "count"}, {"cpu", "nanoseconds"}}, "cpu",
                         {"cpu", "nanoseconds"}, 10'101'010);
  builder.SetTime(1'700'000'000'000'000'000, 2'000'000'000);
  builder.AddComment("collected by profd");
  builder.SetDropFrames("^__libc_start_main$");
  const uint64_t app = builder.AddMapping({.memory_start = 0x400000,
                                           .memory_limit = 0x500000,
                                           .file_offset = 0x1000,
                                           .filename = "/usr/bin/app",
                                           .build_id = "abcdef0123",
                                           .has_functions = true,
                                           .has_inline_frames = true});
  // hot() inlined into main() at one address: innermost first.
  const uint64_t hot = builder.AddLocation(app, 0x401234,
                                           {{.function = "hot",
                                             .system_name = "_Z3hotv",
                                             .filename = "app.cc",
                                             .line = 12,
                                             .column = 3,
                                             .start_line = 10},
                                            {.function = "main",
                                             .system_name = "main",
                                             .filename = "app.cc",
                                             .line = 40,
                                             .start_line = 30}});
  const uint64_t cold = builder.AddLocation(app, 0x401300, {{.function = "cold", .line = 20}});
  const uint64_t kernel = builder.AddLocation(0, 0, {{.function = "do_syscall_64"}});
  const std::vector<Label> labels = {Label::String("comm", "app"), Label::Number("pid", 4242),
                                     Label::Number("bytes", 64, "bytes")};
  builder.AddSample({hot}, {3, 30'303'030}, labels);
  builder.AddSample({cold, hot}, {1, 10'101'010}, labels);
  builder.AddSample({kernel, cold}, {2, 0});  // no cpu time: only in samples/count
  EXPECT_EQ(CheckValid(builder.profile()), "");
  return PprofToOtlp(builder.profile(),
                     {{"service.name", std::string("app.service")}, {"process.pid", int64_t{4242}}},
                     {"profd", "0.1.0"}, kProfileId);
}

// Reads the request's dictionary by index.
struct Dictionary {
  const otlp::ProfilesDictionary& d;
  const std::string& Str(int32_t i) const { return d.string_table(i); }
  std::string Type(const otlp::ValueType& t) const {
    return Str(t.type_strindex()) + "/" + Str(t.unit_strindex());
  }
  // Function names of a stack, leaf first, inline frames innermost first.
  std::vector<std::string> Frames(int32_t stack) const {
    std::vector<std::string> names;
    for (const int32_t location : d.stack_table(stack).location_indices())
      for (const auto& line : d.location_table(location).lines())
        names.push_back(Str(d.function_table(line.function_index()).name_strindex()));
    return names;
  }
  std::map<std::string, std::string> Attributes(
      const google::protobuf::RepeatedField<int32_t>& indices) const {
    std::map<std::string, std::string> out;
    for (const int32_t i : indices) {
      const otlp::KeyValueAndUnit& a = d.attribute_table(i);
      const auto& v = a.value();
      std::string text = v.has_string_value() ? v.string_value()
                         : v.has_int_value()  ? std::to_string(v.int_value())
                         : v.has_bool_value() ? (v.bool_value() ? "true" : "false")
                                              : v.DebugString();
      if (a.unit_strindex() != 0) text += " " + Str(a.unit_strindex());
      EXPECT_TRUE(out.emplace(Str(a.key_strindex()), text).second) << "a key repeats";
    }
    return out;
  }
};

TEST(PprofToOtlp, EveryTableStartsWithItsZeroValue) {
  const Request request = CpuRequest();
  const otlp::ProfilesDictionary& d = request.dictionary();
  EXPECT_EQ(d.string_table(0), "");
  EXPECT_EQ(d.mapping_table(0).ByteSizeLong(), 0u);
  EXPECT_EQ(d.location_table(0).ByteSizeLong(), 0u);
  EXPECT_EQ(d.function_table(0).ByteSizeLong(), 0u);
  EXPECT_EQ(d.attribute_table(0).ByteSizeLong(), 0u);
  EXPECT_EQ(d.stack_table(0).ByteSizeLong(), 0u);
  ASSERT_EQ(d.link_table_size(), 1);
  EXPECT_EQ(d.link_table(0).trace_id(), std::string(16, '\0'));
  EXPECT_EQ(d.link_table(0).span_id(), std::string(8, '\0'));
  // Strings are stored once.
  std::map<std::string, int> seen;
  for (const std::string& s : d.string_table()) EXPECT_EQ(seen[s]++, 0) << s;
}

TEST(PprofToOtlp, OneProfilePerSampleTypeDefaultFirst) {
  const Request request = CpuRequest();
  const Dictionary d{request.dictionary()};
  ASSERT_EQ(request.resource_profiles_size(), 1);
  ASSERT_EQ(request.resource_profiles(0).scope_profiles_size(), 1);
  const auto& scope = request.resource_profiles(0).scope_profiles(0);
  EXPECT_EQ(scope.scope().name(), "profd");
  EXPECT_EQ(scope.scope().version(), "0.1.0");
  ASSERT_EQ(scope.profiles_size(), 2);
  const otlp::Profile& cpu = scope.profiles(0);
  const otlp::Profile& count = scope.profiles(1);
  EXPECT_EQ(d.Type(cpu.sample_type()), "cpu/nanoseconds");
  EXPECT_EQ(d.Type(count.sample_type()), "samples/count");
  for (const otlp::Profile* p : {&cpu, &count}) {
    EXPECT_EQ(d.Type(p->period_type()), "cpu/nanoseconds");
    EXPECT_EQ(p->period(), 10'101'010);
    EXPECT_EQ(p->time_unix_nano(), 1'700'000'000'000'000'000u);
    EXPECT_EQ(p->duration_nano(), 2'000'000'000u);
    EXPECT_TRUE(p->original_payload_format().empty() && p->original_payload().empty());
    const auto attributes = d.Attributes(p->attribute_indices());
    EXPECT_EQ(attributes.at("pprof.profile.drop_frames"), "^__libc_start_main$");
    EXPECT_NE(attributes.at("pprof.profile.comment").find("collected by profd"), std::string::npos);
  }
  // Distinct ids, each the given one but for its last byte.
  EXPECT_EQ(cpu.profile_id(), kProfileId);
  EXPECT_EQ(count.profile_id().substr(0, 15), kProfileId.substr(0, 15));
  EXPECT_NE(count.profile_id(), cpu.profile_id());
}

TEST(PprofToOtlp, SamplesKeepTheirValuesStacksAndLabels) {
  const Request request = CpuRequest();
  const Dictionary d{request.dictionary()};
  const auto& scope = request.resource_profiles(0).scope_profiles(0);
  const otlp::Profile& cpu = scope.profiles(0);
  const otlp::Profile& count = scope.profiles(1);
  // The sample without cpu time is only in samples/count.
  ASSERT_EQ(cpu.samples_size(), 2);
  ASSERT_EQ(count.samples_size(), 3);
  EXPECT_EQ(OtlpSampleCount(request), 5u);
  std::map<std::vector<std::string>, int64_t> cpu_by_stack, count_by_stack;
  for (const auto& s : cpu.samples()) {
    ASSERT_EQ(s.values_size(), 1);
    EXPECT_EQ(s.timestamps_unix_nano_size(), 0);
    EXPECT_EQ(s.link_index(), 0);
    cpu_by_stack[d.Frames(s.stack_index())] += s.values(0);
  }
  for (const auto& s : count.samples()) count_by_stack[d.Frames(s.stack_index())] += s.values(0);
  using Frames = std::vector<std::string>;
  EXPECT_EQ(cpu_by_stack, (std::map<Frames, int64_t>{{{"hot", "main"}, 30'303'030},
                                                     {{"cold", "hot", "main"}, 10'101'010}}));
  EXPECT_EQ(count_by_stack, (std::map<Frames, int64_t>{{{"hot", "main"}, 3},
                                                       {{"cold", "hot", "main"}, 1},
                                                       {{"do_syscall_64", "cold"}, 2}}));
  // Labels as attributes under the same keys; numbers as integers with their unit.
  EXPECT_EQ(d.Attributes(cpu.samples(0).attribute_indices()),
            (std::map<std::string, std::string>{
                {"comm", "app"}, {"pid", "4242"}, {"bytes", "64 bytes"}}));
  // Both profiles share one stack table: the same stack is one entry.
  EXPECT_EQ(cpu.samples(0).stack_index(), count.samples(0).stack_index());
}

TEST(PprofToOtlp, LocationsFunctionsAndMappings) {
  const Request request = CpuRequest();
  const Dictionary d{request.dictionary()};
  const otlp::ProfilesDictionary& dict = request.dictionary();
  const otlp::Profile& cpu = request.resource_profiles(0).scope_profiles(0).profiles(0);
  const otlp::Stack& stack = dict.stack_table(cpu.samples(0).stack_index());
  ASSERT_EQ(stack.location_indices_size(), 1);
  const otlp::Location& hot = dict.location_table(stack.location_indices(0));
  EXPECT_EQ(hot.address(), 0x401234u);
  ASSERT_EQ(hot.lines_size(), 2);
  EXPECT_EQ(hot.lines(0).line(), 12);
  EXPECT_EQ(hot.lines(0).column(), 3);
  EXPECT_EQ(hot.lines(1).line(), 40);
  const otlp::Function& function = dict.function_table(hot.lines(0).function_index());
  EXPECT_EQ(d.Str(function.name_strindex()), "hot");
  EXPECT_EQ(d.Str(function.system_name_strindex()), "_Z3hotv");
  EXPECT_EQ(d.Str(function.filename_strindex()), "app.cc");
  EXPECT_EQ(function.start_line(), 10);
  ASSERT_NE(hot.mapping_index(), 0);
  const otlp::Mapping& mapping = dict.mapping_table(hot.mapping_index());
  EXPECT_EQ(mapping.memory_start(), 0x400000u);
  EXPECT_EQ(mapping.memory_limit(), 0x500000u);
  EXPECT_EQ(mapping.file_offset(), 0x1000u);
  EXPECT_EQ(d.Str(mapping.filename_strindex()), "/usr/bin/app");
  EXPECT_EQ(d.Attributes(mapping.attribute_indices()),
            (std::map<std::string, std::string>{{"process.executable.build_id.gnu", "abcdef0123"},
                                                {"pprof.mapping.has_functions", "true"},
                                                {"pprof.mapping.has_inline_frames", "true"}}));
  // The kernel frame has no mapping.
  const otlp::Profile& count = request.resource_profiles(0).scope_profiles(0).profiles(1);
  const otlp::Stack& kernel_stack = dict.stack_table(count.samples(2).stack_index());
  EXPECT_EQ(dict.location_table(kernel_stack.location_indices(0)).mapping_index(), 0);
}

TEST(PprofToOtlp, ResourceAttributesAsGiven) {
  const Request request = CpuRequest();
  const auto& attributes = request.resource_profiles(0).resource().attributes();
  ASSERT_EQ(attributes.size(), 2);
  EXPECT_EQ(attributes[0].key(), "service.name");
  EXPECT_EQ(attributes[0].value().string_value(), "app.service");
  EXPECT_EQ(attributes[1].key(), "process.pid");
  EXPECT_EQ(attributes[1].value().int_value(), 4242);
}

TEST(PprofToOtlp, AProfileWithoutSamplesHasNone) {
  ProfileBuilder builder({{"samples", "count"}}, "", {"cpu", "nanoseconds"}, 1);
  const Request request = PprofToOtlp(builder.profile(), {}, {"profd", "0"}, "");
  EXPECT_EQ(OtlpSampleCount(request), 0u);
  EXPECT_TRUE(request.resource_profiles(0).scope_profiles(0).profiles(0).profile_id().empty());
}

}  // namespace
}  // namespace profd
