// Unit tests of ProfileBuilder, CheckValid and the gzip helpers.
#include "profile_builder.h"

#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

namespace profd {
namespace {

namespace pb = perftools::profiles;

ProfileBuilder CpuBuilder() {
  return ProfileBuilder({{"samples", "count"}, {"cpu", "nanoseconds"}}, "cpu",
                        {"cpu", "nanoseconds"}, 10'101'010);
}

const std::string& Str(const pb::Profile& profile, int64_t index) {
  return profile.string_table(static_cast<int>(index));
}

MappingInfo MainBinary() {
  return {.memory_start = 0x400000,
          .memory_limit = 0x500000,
          .file_offset = 0,
          .filename = "/usr/bin/app",
          .build_id = "abcdef0123",
          .has_functions = true};
}

MappingInfo Libc() {
  return {.memory_start = 0x7f0000000000,
          .memory_limit = 0x7f0000100000,
          .file_offset = 0x28000,
          .filename = "/usr/lib/x86_64-linux-gnu/libc.so.6",
          .build_id = "0123456789"};
}

LineInfo Frame(std::string function, int64_t line = 0) {
  return {.function = std::move(function), .filename = "app.cc", .line = line};
}

TEST(ProfileBuilderTest, HeaderFieldsAndStringTable) {
  ProfileBuilder builder = CpuBuilder();
  builder.SetTime(1'700'000'000'000'000'000, 10'000'000'000);
  builder.AddComment("collected by profd");
  builder.SetDropFrames("^__libc_start_main$");
  builder.SetKeepFrames("^main$");
  const pb::Profile& profile = builder.profile();

  ASSERT_GE(profile.string_table_size(), 1);
  EXPECT_EQ(profile.string_table(0), "");
  ASSERT_EQ(profile.sample_type_size(), 2);
  EXPECT_EQ(Str(profile, profile.sample_type(0).type()), "samples");
  EXPECT_EQ(Str(profile, profile.sample_type(0).unit()), "count");
  EXPECT_EQ(Str(profile, profile.sample_type(1).type()), "cpu");
  EXPECT_EQ(Str(profile, profile.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(Str(profile, profile.default_sample_type()), "cpu");
  // "cpu" is interned once although it names a sample type, the default and the period type.
  EXPECT_EQ(profile.default_sample_type(), profile.sample_type(1).type());
  EXPECT_EQ(profile.period_type().type(), profile.sample_type(1).type());
  EXPECT_EQ(profile.period_type().unit(), profile.sample_type(1).unit());
  EXPECT_EQ(profile.period(), 10'101'010);
  EXPECT_EQ(profile.time_nanos(), 1'700'000'000'000'000'000);
  EXPECT_EQ(profile.duration_nanos(), 10'000'000'000);
  ASSERT_EQ(profile.comment_size(), 1);
  EXPECT_EQ(Str(profile, profile.comment(0)), "collected by profd");
  EXPECT_EQ(Str(profile, profile.drop_frames()), "^__libc_start_main$");
  EXPECT_EQ(Str(profile, profile.keep_frames()), "^main$");
  EXPECT_EQ(CheckValid(profile), "");
}

TEST(ProfileBuilderTest, EmptyDefaultSampleTypeLeavesItUnset) {
  ProfileBuilder builder({{"alloc_space", "bytes"}, {"inuse_space", "bytes"}}, "",
                         {"space", "bytes"}, 524288);
  EXPECT_EQ(builder.profile().default_sample_type(), 0);
  EXPECT_EQ(CheckValid(builder.profile()), "");
}

TEST(ProfileBuilderTest, MappingsAreDedupedAndNumberedInInsertionOrder) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t main_id = builder.AddMapping(MainBinary());
  const uint64_t libc_id = builder.AddMapping(Libc());
  const uint64_t main_again = builder.AddMapping(MainBinary());
  MappingInfo other_offset = Libc();
  other_offset.file_offset = 0;
  const uint64_t libc_other_offset = builder.AddMapping(other_offset);

  EXPECT_EQ(main_id, 1u);
  EXPECT_EQ(libc_id, 2u);
  EXPECT_EQ(main_again, main_id);
  EXPECT_EQ(libc_other_offset, 3u);
  const pb::Profile& profile = builder.profile();
  ASSERT_EQ(profile.mapping_size(), 3);
  for (int i = 0; i < profile.mapping_size(); ++i) EXPECT_EQ(profile.mapping(i).id(), i + 1u);
  // pprof treats mapping[0] as the main binary.
  EXPECT_EQ(Str(profile, profile.mapping(0).filename()), "/usr/bin/app");
  EXPECT_EQ(Str(profile, profile.mapping(0).build_id()), "abcdef0123");
  EXPECT_TRUE(profile.mapping(0).has_functions());
  EXPECT_EQ(profile.mapping(1).file_offset(), 0x28000u);
  EXPECT_EQ(profile.mapping(1).memory_start(), 0x7f0000000000u);
  EXPECT_EQ(profile.mapping(1).memory_limit(), 0x7f0000100000u);
  EXPECT_EQ(CheckValid(profile), "");
}

TEST(ProfileBuilderTest, LocationsAreDedupedOnMappingAddressAndLines) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t main_id = builder.AddMapping(MainBinary());
  const uint64_t libc_id = builder.AddMapping(Libc());

  const uint64_t first = builder.AddLocation(main_id, 0x401000, {Frame("work", 10)});
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(builder.AddLocation(main_id, 0x401000, {Frame("work", 10)}), first);
  EXPECT_NE(builder.AddLocation(main_id, 0x401004, {Frame("work", 10)}), first);
  EXPECT_NE(builder.AddLocation(libc_id, 0x401000, {Frame("work", 10)}), first);
  EXPECT_NE(builder.AddLocation(main_id, 0x401000, {Frame("work", 11)}), first);
  EXPECT_NE(builder.AddLocation(main_id, 0x401000, {Frame("other", 10)}), first);
  EXPECT_NE(builder.AddLocation(main_id, 0x401000, {Frame("inlined", 3), Frame("work", 10)}),
            first);
  EXPECT_NE(builder.AddLocation(0, 0x401000, {Frame("work", 10)}), first);

  const pb::Profile& profile = builder.profile();
  EXPECT_EQ(profile.location_size(), 7);
  for (int i = 0; i < profile.location_size(); ++i) EXPECT_EQ(profile.location(i).id(), i + 1u);
  EXPECT_EQ(CheckValid(profile), "");
}

TEST(ProfileBuilderTest, FunctionsAreDedupedAcrossLocations) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t main_id = builder.AddMapping(MainBinary());
  builder.AddLocation(main_id, 0x401000, {Frame("work", 10)});
  builder.AddLocation(main_id, 0x401010, {Frame("work", 12)});
  builder.AddLocation(main_id, 0x401020, {Frame("helper", 3), Frame("work", 14)});
  LineInfo other_file = Frame("work", 10);
  other_file.filename = "other.cc";
  builder.AddLocation(main_id, 0x402000, {other_file});

  const pb::Profile& profile = builder.profile();
  ASSERT_EQ(profile.function_size(), 3);  // work@app.cc, helper@app.cc, work@other.cc
  const pb::Function& work = profile.function(0);
  EXPECT_EQ(work.id(), 1u);
  EXPECT_EQ(Str(profile, work.name()), "work");
  EXPECT_EQ(Str(profile, work.filename()), "app.cc");
  for (int i = 0; i < 3; ++i) {
    const pb::Location& location = profile.location(i);
    EXPECT_EQ(location.line(location.line_size() - 1).function_id(), work.id());
  }
  EXPECT_EQ(Str(profile, profile.function(2).filename()), "other.cc");
}

TEST(ProfileBuilderTest, FunctionFieldsIncludingSystemNameAndStartLine) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t main_id = builder.AddMapping(MainBinary());
  builder.AddLocation(main_id, 0x401000,
                      {{.function = "ns::Work(int)",
                        .system_name = "_ZN2ns4WorkEi",
                        .filename = "work.cc",
                        .line = 42,
                        .column = 7,
                        .start_line = 40},
                       {.function = "plain_c", .filename = "c.c", .line = 5}});
  const pb::Profile& profile = builder.profile();
  ASSERT_EQ(profile.function_size(), 2);
  EXPECT_EQ(Str(profile, profile.function(0).name()), "ns::Work(int)");
  EXPECT_EQ(Str(profile, profile.function(0).system_name()), "_ZN2ns4WorkEi");
  EXPECT_EQ(profile.function(0).start_line(), 40);
  // An unknown system name reads as the plain name rather than as "".
  EXPECT_EQ(Str(profile, profile.function(1).system_name()), "plain_c");
  EXPECT_EQ(profile.location(0).line(0).column(), 7);
  EXPECT_EQ(profile.location(0).line(0).line(), 42);
}

TEST(ProfileBuilderTest, InlineFramesAreLinesOfOneLocationInnermostFirst) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t main_id = builder.AddMapping(MainBinary());
  const uint64_t location_id = builder.AddLocation(
      main_id, 0x401234, {Frame("memcpy_inline", 88), Frame("copy_buffer", 21), Frame("run", 7)});

  const pb::Profile& profile = builder.profile();
  ASSERT_EQ(profile.location_size(), 1);
  const pb::Location& location = profile.location(0);
  EXPECT_EQ(location.id(), location_id);
  EXPECT_EQ(location.mapping_id(), main_id);
  EXPECT_EQ(location.address(), 0x401234u);
  ASSERT_EQ(location.line_size(), 3);
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"memcpy_inline", 88}, {"copy_buffer", 21}, {"run", 7}};
  for (int i = 0; i < 3; ++i) {
    const pb::Function& function =
        profile.function(static_cast<int>(location.line(i).function_id() - 1));
    EXPECT_EQ(function.id(), location.line(i).function_id());
    EXPECT_EQ(Str(profile, function.name()), expected[i].first);
    EXPECT_EQ(location.line(i).line(), expected[i].second);
  }
}

TEST(ProfileBuilderTest, UnknownMappingIdIsRecordedAsNoMapping) {
  ProfileBuilder builder = CpuBuilder();
  builder.AddMapping(MainBinary());
  builder.AddLocation(7, 0x1000, {Frame("f")});
  EXPECT_EQ(builder.profile().location(0).mapping_id(), 0u);
  EXPECT_EQ(CheckValid(builder.profile()), "");
}

TEST(ProfileBuilderTest, IdenticalSamplesMergeByAddingValues) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t main_id = builder.AddMapping(MainBinary());
  const uint64_t leaf = builder.AddLocation(main_id, 0x401000, {Frame("leaf")});
  const uint64_t root = builder.AddLocation(main_id, 0x402000, {Frame("main")});

  builder.AddSample({leaf, root}, {1, 10},
                    {Label::Number("pid", 42), Label::String("comm", "app")});
  // Same labels in another order: still the same sample.
  builder.AddSample({leaf, root}, {2, 20},
                    {Label::String("comm", "app"), Label::Number("pid", 42)});
  builder.AddSample({leaf, root}, {4, 40},
                    {Label::Number("pid", 43), Label::String("comm", "app")});
  builder.AddSample({root, leaf}, {8, 80},
                    {Label::Number("pid", 42), Label::String("comm", "app")});
  builder.AddSample({leaf, root}, {16, 160});
  builder.AddSample({leaf, root}, {32, 320});

  const pb::Profile& profile = builder.profile();
  ASSERT_EQ(profile.sample_size(), 4);
  EXPECT_EQ(profile.sample(0).value(0), 3);
  EXPECT_EQ(profile.sample(0).value(1), 30);
  EXPECT_EQ(profile.sample(1).value(0), 4);
  EXPECT_EQ(profile.sample(2).value(0), 8);
  EXPECT_EQ(profile.sample(3).value(0), 48);
  EXPECT_EQ(profile.sample(3).value(1), 480);
  EXPECT_EQ(profile.sample(0).location_id(0), leaf);  // leaf first, as given
  EXPECT_EQ(profile.sample(0).location_id(1), root);
  EXPECT_EQ(builder.rejected_samples(), 0u);
  EXPECT_EQ(CheckValid(profile), "");
}

TEST(ProfileBuilderTest, StringAndNumericLabels) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t leaf = builder.AddLocation(0, 0xffffffff81000000, {Frame("schedule")});
  builder.AddSample({leaf}, {1, 1},
                    {Label::String("thread_comm", "worker-1"), Label::Number("tid", 1234),
                     Label::Number("bytes", 4096, "bytes"), Label{.key = "pid", .num = 77},
                     Label{.key = "comm", .str = "app"}});
  const pb::Profile& profile = builder.profile();
  ASSERT_EQ(profile.sample_size(), 1);
  const pb::Sample& sample = profile.sample(0);
  ASSERT_EQ(sample.label_size(), 5);

  EXPECT_EQ(Str(profile, sample.label(0).key()), "thread_comm");
  EXPECT_EQ(Str(profile, sample.label(0).str()), "worker-1");
  EXPECT_EQ(sample.label(0).num(), 0);
  EXPECT_EQ(Str(profile, sample.label(1).key()), "tid");
  EXPECT_EQ(sample.label(1).str(), 0);
  EXPECT_EQ(sample.label(1).num(), 1234);
  EXPECT_EQ(sample.label(1).num_unit(), 0);
  EXPECT_EQ(sample.label(2).num(), 4096);
  EXPECT_EQ(Str(profile, sample.label(2).num_unit()), "bytes");
  EXPECT_EQ(sample.label(3).num(), 77);  // numeric: str empty, num set
  EXPECT_EQ(Str(profile, sample.label(4).str()), "app");
  EXPECT_EQ(CheckValid(profile), "");
}

TEST(ProfileBuilderTest, SamplesBreakingTheContractAreRejectedAndCounted) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t leaf = builder.AddLocation(0, 0x1000, {Frame("f")});
  builder.AddSample({leaf}, {1});                               // one value, two sample types
  builder.AddSample({leaf}, {1, 2, 3});                         // three values
  builder.AddSample({leaf + 1}, {1, 2});                        // unknown location
  builder.AddSample({0}, {1, 2});                               // reserved location id
  builder.AddSample({leaf}, {1, 2}, {Label::String("", "x")});  // label without a key
  EXPECT_EQ(builder.rejected_samples(), 5u);
  EXPECT_EQ(builder.profile().sample_size(), 0);
  builder.AddSample({}, {1, 2});  // an empty stack is allowed by pprof
  EXPECT_EQ(builder.profile().sample_size(), 1);
  EXPECT_EQ(CheckValid(builder.profile()), "");
}

TEST(ProfileBuilderTest, SerializedProfileRoundTripsThroughGzip) {
  ProfileBuilder builder = CpuBuilder();
  const uint64_t main_id = builder.AddMapping(MainBinary());
  const uint64_t leaf = builder.AddLocation(main_id, 0x401000, {Frame("a", 1), Frame("b", 2)});
  builder.AddSample({leaf}, {5, 50}, {Label::Number("pid", 1)});
  const std::string gzipped = builder.SerializeGzipped();
  ASSERT_GE(gzipped.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gzipped[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gzipped[1]), 0x8b);

  std::string raw;
  ASSERT_TRUE(Gunzip(gzipped, &raw));
  pb::Profile decoded;
  ASSERT_TRUE(decoded.ParseFromString(raw));
  EXPECT_EQ(decoded.SerializeAsString(), builder.profile().SerializeAsString());
  EXPECT_EQ(CheckValid(decoded), "");
}

// --- CheckValid: a valid hand-made profile, then one broken copy per rule. ---

pb::Profile HandMadeProfile() {
  pb::Profile profile;
  for (const char* s : {"", "samples", "count", "cpu", "nanoseconds", "main", "app.cc", "/bin/app",
                        "pid", "comm", "bash"}) {
    profile.add_string_table(s);
  }
  pb::ValueType* samples = profile.add_sample_type();
  samples->set_type(1);
  samples->set_unit(2);
  pb::ValueType* cpu = profile.add_sample_type();
  cpu->set_type(3);
  cpu->set_unit(4);
  profile.set_default_sample_type(3);
  profile.mutable_period_type()->set_type(3);
  profile.mutable_period_type()->set_unit(4);
  profile.set_period(1000);

  pb::Mapping* mapping = profile.add_mapping();
  mapping->set_id(1);
  mapping->set_filename(7);
  pb::Function* function = profile.add_function();
  function->set_id(1);
  function->set_name(5);
  function->set_system_name(5);
  function->set_filename(6);
  pb::Location* location = profile.add_location();
  location->set_id(1);
  location->set_mapping_id(1);
  location->set_address(0x1000);
  location->add_line()->set_function_id(1);

  pb::Sample* sample = profile.add_sample();
  sample->add_location_id(1);
  sample->add_value(1);
  sample->add_value(1000);
  pb::Label* pid = sample->add_label();
  pid->set_key(8);
  pid->set_num(42);
  pb::Label* comm = sample->add_label();
  comm->set_key(9);
  comm->set_str(10);
  return profile;
}

TEST(CheckValidTest, HandMadeProfileIsValid) { EXPECT_EQ(CheckValid(HandMadeProfile()), ""); }

TEST(CheckValidTest, EmptyProfileIsInvalidWithoutStringTable) {
  EXPECT_NE(CheckValid(pb::Profile()), "");
}

struct Violation {
  std::string name;
  std::function<void(pb::Profile*)> breaks;
  std::string expected_message_part;
};

class CheckValidViolationTest : public testing::TestWithParam<Violation> {};

TEST_P(CheckValidViolationTest, ReportsTheProblem) {
  pb::Profile profile = HandMadeProfile();
  GetParam().breaks(&profile);
  const std::string error = CheckValid(profile);
  EXPECT_NE(error.find(GetParam().expected_message_part), std::string::npos)
      << "error was: \"" << error << "\"";
}

INSTANTIATE_TEST_SUITE_P(
    AllRules, CheckValidViolationTest,
    testing::Values(
        Violation{"EmptyStringTable", [](pb::Profile* p) { p->clear_string_table(); },
                  "string_table is empty"},
        Violation{"FirstStringNotEmpty", [](pb::Profile* p) { p->set_string_table(0, "x"); },
                  "string_table[0]"},
        Violation{"TooFewValues",
                  [](pb::Profile* p) { p->mutable_sample(0)->mutable_value()->RemoveLast(); },
                  "sample[0] has 1 values vs. 2 sample types"},
        Violation{"TooManyValues", [](pb::Profile* p) { p->mutable_sample(0)->add_value(3); },
                  "sample[0] has 3 values"},
        Violation{"SamplesWithoutSampleTypes",
                  [](pb::Profile* p) {
                    p->clear_sample_type();
                    p->clear_default_sample_type();
                  },
                  "missing sample type"},
        Violation{"MappingIdZero", [](pb::Profile* p) { p->mutable_mapping(0)->set_id(0); },
                  "mapping[0] has reserved id 0"},
        Violation{"DuplicateMappingId", [](pb::Profile* p) { *p->add_mapping() = p->mapping(0); },
                  "multiple mappings with id 1"},
        Violation{"FunctionIdZero", [](pb::Profile* p) { p->mutable_function(0)->set_id(0); },
                  "function[0] has reserved id 0"},
        Violation{"DuplicateFunctionId",
                  [](pb::Profile* p) { *p->add_function() = p->function(0); },
                  "multiple functions with id 1"},
        Violation{"LocationIdZero", [](pb::Profile* p) { p->mutable_location(0)->set_id(0); },
                  "location[0] has reserved id 0"},
        Violation{"DuplicateLocationId",
                  [](pb::Profile* p) { *p->add_location() = p->location(0); },
                  "multiple locations with id 1"},
        Violation{"LocationMappingUnresolved",
                  [](pb::Profile* p) { p->mutable_location(0)->set_mapping_id(9); },
                  "refers to mapping id 9"},
        Violation{
            "LineFunctionUnresolved",
            [](pb::Profile* p) { p->mutable_location(0)->mutable_line(0)->set_function_id(9); },
            "location[0].line[0] refers to function id 9"},
        Violation{"SampleLocationUnresolved",
                  [](pb::Profile* p) { p->mutable_sample(0)->add_location_id(9); },
                  "refers to location id 9"},
        Violation{"SampleLocationZero",
                  [](pb::Profile* p) { p->mutable_sample(0)->add_location_id(0); },
                  "refers to location id 0"},
        Violation{"SampleTypeStringOutOfRange",
                  [](pb::Profile* p) { p->mutable_sample_type(1)->set_unit(99); },
                  "sample_type[1].unit is string index 99"},
        Violation{"NegativeStringIndex",
                  [](pb::Profile* p) { p->mutable_function(0)->set_name(-1); },
                  "function[0].name is string index -1"},
        Violation{"FunctionFilenameOutOfRange",
                  [](pb::Profile* p) { p->mutable_function(0)->set_filename(11); },
                  "function[0].filename"},
        Violation{"MappingFilenameOutOfRange",
                  [](pb::Profile* p) { p->mutable_mapping(0)->set_build_id(50); },
                  "mapping[0].build_id"},
        Violation{"PeriodTypeOutOfRange",
                  [](pb::Profile* p) { p->mutable_period_type()->set_type(12); },
                  "period_type.type"},
        Violation{"DefaultSampleTypeOutOfRange",
                  [](pb::Profile* p) { p->set_default_sample_type(12); },
                  "default_sample_type is string index 12"},
        Violation{"DefaultSampleTypeNamesNoSampleType",
                  [](pb::Profile* p) { p->set_default_sample_type(5); },
                  "default_sample_type \"main\" names no sample_type"},
        Violation{"DropFramesOutOfRange", [](pb::Profile* p) { p->set_drop_frames(100); },
                  "drop_frames"},
        Violation{"KeepFramesOutOfRange", [](pb::Profile* p) { p->set_keep_frames(100); },
                  "keep_frames"},
        Violation{"CommentOutOfRange", [](pb::Profile* p) { p->add_comment(100); }, "comment[0]"},
        Violation{"LabelKeyOutOfRange",
                  [](pb::Profile* p) { p->mutable_sample(0)->mutable_label(0)->set_key(30); },
                  "sample[0].label[0].key"},
        Violation{"LabelKeyEmpty",
                  [](pb::Profile* p) { p->mutable_sample(0)->mutable_label(1)->set_key(0); },
                  "sample[0].label[1] has an empty key"},
        Violation{"LabelStrOutOfRange",
                  [](pb::Profile* p) { p->mutable_sample(0)->mutable_label(1)->set_str(30); },
                  "sample[0].label[1].str"},
        Violation{"LabelNumUnitOutOfRange",
                  [](pb::Profile* p) { p->mutable_sample(0)->mutable_label(0)->set_num_unit(30); },
                  "sample[0].label[0].num_unit"},
        Violation{"LabelBothStrAndNum",
                  [](pb::Profile* p) { p->mutable_sample(0)->mutable_label(1)->set_num(3); },
                  "sets both str and num"}),
    [](const testing::TestParamInfo<Violation>& info) { return info.param.name; });

// --- gzip ---

TEST(GzipTest, RoundTripsEmptySmallAndLargeInputs) {
  std::mt19937_64 random(12345);
  std::string incompressible(3 << 20, '\0');
  for (char& c : incompressible) c = static_cast<char>(random());
  std::string compressible;
  for (int i = 0; i < 200000; ++i) compressible += "frame " + std::to_string(i % 97) + "\n";

  for (const std::string& input :
       {std::string(), std::string("a"), std::string(1, '\0'), compressible, incompressible}) {
    const std::string gzipped = Gzip(input);
    ASSERT_GE(gzipped.size(), 18u);  // gzip header + trailer
    EXPECT_EQ(static_cast<unsigned char>(gzipped[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gzipped[1]), 0x8b);
    std::string output = "stale";
    ASSERT_TRUE(Gunzip(gzipped, &output));
    EXPECT_EQ(output, input);
  }
  EXPECT_LT(Gzip(compressible).size(), compressible.size() / 10);
}

TEST(GzipTest, AcceptsConcatenatedMembers) {
  std::string output;
  ASSERT_TRUE(Gunzip(Gzip("hello, ") + Gzip("world"), &output));
  EXPECT_EQ(output, "hello, world");
}

TEST(GzipTest, RejectsCorruptAndTruncatedInput) {
  const std::string gzipped = Gzip(std::string(10000, 'x') + "tail");
  std::string output;
  EXPECT_FALSE(Gunzip("", &output));
  EXPECT_FALSE(Gunzip("not gzip at all", &output));
  EXPECT_FALSE(Gunzip(gzipped.substr(0, gzipped.size() - 5), &output));
  EXPECT_TRUE(output.empty());
  std::string corrupt = gzipped;
  corrupt[corrupt.size() - 6] ^= 0x55;  // inside the CRC32 trailer
  EXPECT_FALSE(Gunzip(corrupt, &output));
}

TEST(ToValidUtf8, KeepsValidTextAndReplacesEachIllFormedSubpart) {
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  EXPECT_EQ(ToValidUtf8(""), "");
  EXPECT_EQ(ToValidUtf8("main"), "main");
  EXPECT_EQ(ToValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(ToValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));  // NUL is UTF-8
  EXPECT_EQ(ToValidUtf8("a\x80z"), "a" + r + "z");                         // stray continuation
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), r + r);                               // overlong '/'
  EXPECT_EQ(ToValidUtf8("\xE0\x80\xAF"), r + r + r);                       // overlong, 3 bytes
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), r + r + r);                       // a surrogate
  EXPECT_EQ(ToValidUtf8("\xF4\x90\x80\x80"), r + r + r + r);               // above U+10FFFF
  EXPECT_EQ(ToValidUtf8("\xE2\x82"), r);                                   // truncated at the end
  EXPECT_EQ(ToValidUtf8("\xE2\x82z"), r + "z");                            // truncated: one U+FFFD
  EXPECT_EQ(ToValidUtf8("\xF0\x9F\x98z\xFF"), r + "z" + r);
}

// Names from a corrupt binary reach the string table repaired, so the profile serializes without
// protobuf's "invalid UTF-8" error and parses back.
TEST(ProfileBuilderTest, InvalidUtf8IsRepairedBeforeTheStringTable) {
  ProfileBuilder builder = CpuBuilder();
  MappingInfo info;
  info.memory_start = 0x1000;
  info.memory_limit = 0x2000;
  info.filename = "/bin/\xFFprog";
  const uint64_t mapping = builder.AddMapping(info);
  const uint64_t location =
      builder.AddLocation(mapping, 0x1100, {{"fn\xC3(", "fn\xC3(", "src/\x80.c", 3}});
  builder.AddSample({location}, {1, 10}, {});
  const pb::Profile& profile = builder.profile();
  for (const std::string& s : profile.string_table()) EXPECT_EQ(ToValidUtf8(s), s) << s;
  EXPECT_EQ(Str(profile, profile.function(0).name()), "fn\xEF\xBF\xBD(");
  pb::Profile parsed;
  ASSERT_TRUE(ParseGzippedProfile(builder.SerializeGzipped(), &parsed));
  EXPECT_EQ(Str(parsed, parsed.mapping(0).filename()), "/bin/\xEF\xBF\xBDprog");
  EXPECT_EQ(Str(parsed, parsed.function(0).filename()), "src/\xEF\xBF\xBD.c");
}

}  // namespace
}  // namespace profd
