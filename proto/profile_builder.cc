#include "profile_builder.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <unordered_set>

namespace profd {
namespace {

namespace pb = perftools::profiles;

// Dedupe keys are byte strings: fixed-width integers and length-prefixed strings, so distinct
// field tuples can never produce the same key.
void AppendInt(std::string* key, uint64_t value) {
  key->append(reinterpret_cast<const char*>(&value), sizeof(value));
}

void AppendString(std::string* key, const std::string& value) {
  AppendInt(key, value.size());
  key->append(value);
}

std::string MappingKey(const MappingInfo& mapping) {
  std::string key;
  AppendInt(&key, mapping.memory_start);
  AppendInt(&key, mapping.memory_limit);
  AppendInt(&key, mapping.file_offset);
  AppendString(&key, mapping.filename);
  AppendString(&key, mapping.build_id);
  AppendInt(&key, (mapping.has_functions ? 1u : 0u) | (mapping.has_filenames ? 2u : 0u) |
                      (mapping.has_line_numbers ? 4u : 0u) | (mapping.has_inline_frames ? 8u : 0u));
  return key;
}

std::string LabelKey(const pb::Label& label) {
  std::string key;
  AppendInt(&key, label.key());
  AppendInt(&key, label.str());
  AppendInt(&key, label.num());
  AppendInt(&key, label.num_unit());
  return key;
}

}  // namespace

ProfileBuilder::ProfileBuilder(std::vector<ValueType> sample_types, std::string default_sample_type,
                               ValueType period_type, int64_t period) {
  Intern("");  // pprof requires string_table[0] == "".
  for (const ValueType& sample_type : sample_types) {
    pb::ValueType* value_type = profile_.add_sample_type();
    value_type->set_type(Intern(sample_type.type));
    value_type->set_unit(Intern(sample_type.unit));
  }
  // Left at 0 (unset) pprof shows the last sample type, which is what "" asks for.
  if (!default_sample_type.empty()) {
    profile_.set_default_sample_type(Intern(default_sample_type));
  }
  if (!period_type.type.empty() || !period_type.unit.empty()) {
    profile_.mutable_period_type()->set_type(Intern(period_type.type));
    profile_.mutable_period_type()->set_unit(Intern(period_type.unit));
  }
  profile_.set_period(period);
}

int64_t ProfileBuilder::Intern(const std::string& s) {
  if (auto it = strings_.find(s); it != strings_.end()) return it->second;
  // Repaired before it reaches the proto, whose serializer would log an error for it.
  const std::string valid = ToValidUtf8(s);
  auto [it, inserted] = strings_.try_emplace(valid, profile_.string_table_size());
  if (inserted) profile_.add_string_table(valid);
  if (valid != s) strings_.emplace(s, it->second);
  return it->second;
}

uint64_t ProfileBuilder::InternFunction(const std::string& name, const std::string& system_name,
                                        const std::string& filename, int64_t start_line) {
  const int64_t name_index = Intern(name);
  // Readers fall back to system_name for display, so keep it equal to name when unknown.
  const int64_t system_name_index = system_name.empty() ? name_index : Intern(system_name);
  const int64_t filename_index = Intern(filename);
  auto [it, inserted] = functions_.try_emplace(
      std::make_tuple(name_index, system_name_index, filename_index, start_line),
      profile_.function_size() + 1);
  if (inserted) {
    pb::Function* function = profile_.add_function();
    function->set_id(it->second);
    function->set_name(name_index);
    function->set_system_name(system_name_index);
    function->set_filename(filename_index);
    function->set_start_line(start_line);
  }
  return it->second;
}

uint64_t ProfileBuilder::AddMapping(const MappingInfo& mapping) {
  // Ids are assigned in insertion order (1..N) and mappings are only appended, so the first
  // mapping added stays mapping[0], the one pprof treats as the main binary.
  auto [it, inserted] = mappings_.try_emplace(MappingKey(mapping), profile_.mapping_size() + 1);
  if (inserted) {
    pb::Mapping* out = profile_.add_mapping();
    out->set_id(it->second);
    out->set_memory_start(mapping.memory_start);
    out->set_memory_limit(mapping.memory_limit);
    out->set_file_offset(mapping.file_offset);
    out->set_filename(Intern(mapping.filename));
    out->set_build_id(Intern(mapping.build_id));
    out->set_has_functions(mapping.has_functions);
    out->set_has_filenames(mapping.has_filenames);
    out->set_has_line_numbers(mapping.has_line_numbers);
    out->set_has_inline_frames(mapping.has_inline_frames);
  }
  return it->second;
}

uint64_t ProfileBuilder::AddLocation(uint64_t mapping_id, uint64_t address,
                                     const std::vector<LineInfo>& lines) {
  if (mapping_id > static_cast<uint64_t>(profile_.mapping_size())) mapping_id = 0;

  std::vector<uint64_t> function_ids;
  function_ids.reserve(lines.size());
  std::string key;
  AppendInt(&key, mapping_id);
  AppendInt(&key, address);
  for (const LineInfo& line : lines) {
    function_ids.push_back(
        InternFunction(line.function, line.system_name, line.filename, line.start_line));
    AppendInt(&key, function_ids.back());
    AppendInt(&key, line.line);
    AppendInt(&key, line.column);
  }

  auto [it, inserted] = locations_.try_emplace(std::move(key), profile_.location_size() + 1);
  if (inserted) {
    pb::Location* location = profile_.add_location();
    location->set_id(it->second);
    location->set_mapping_id(mapping_id);
    location->set_address(address);
    // Kept in the caller's order: innermost inline frame first, physical function last.
    for (size_t i = 0; i < lines.size(); ++i) {
      pb::Line* line = location->add_line();
      line->set_function_id(function_ids[i]);
      line->set_line(lines[i].line);
      line->set_column(lines[i].column);
    }
  }
  return it->second;
}

void ProfileBuilder::AddSample(const std::vector<uint64_t>& location_ids,
                               const std::vector<int64_t>& values,
                               const std::vector<Label>& labels) {
  const uint64_t location_count = profile_.location_size();
  const bool locations_known =
      std::all_of(location_ids.begin(), location_ids.end(),
                  [&](uint64_t id) { return id != 0 && id <= location_count; });
  const bool label_keys_set = std::none_of(labels.begin(), labels.end(),
                                           [](const Label& label) { return label.key.empty(); });
  if (values.size() != static_cast<size_t>(profile_.sample_type_size()) || !locations_known ||
      !label_keys_set) {
    ++rejected_samples_;
    return;
  }

  std::vector<pb::Label> encoded_labels;
  encoded_labels.reserve(labels.size());
  for (const Label& label : labels) {
    pb::Label& encoded = encoded_labels.emplace_back();
    encoded.set_key(Intern(label.key));
    if (label.IsNumeric()) {
      encoded.set_num(label.num);
      if (!label.num_unit.empty()) encoded.set_num_unit(Intern(label.num_unit));
    } else {
      encoded.set_str(Intern(label.str));
    }
  }

  // Labels are a set to pprof, so their order must not split one sample into two.
  std::vector<std::string> label_keys;
  label_keys.reserve(encoded_labels.size());
  for (const pb::Label& label : encoded_labels) label_keys.push_back(LabelKey(label));
  std::sort(label_keys.begin(), label_keys.end());

  std::string key;
  AppendInt(&key, location_ids.size());
  for (uint64_t id : location_ids) AppendInt(&key, id);
  for (const std::string& label_key : label_keys) key.append(label_key);

  auto [it, inserted] = samples_.try_emplace(std::move(key), profile_.sample_size());
  if (!inserted) {
    pb::Sample* sample = profile_.mutable_sample(static_cast<int>(it->second));
    for (size_t i = 0; i < values.size(); ++i) {
      sample->set_value(static_cast<int>(i), sample->value(static_cast<int>(i)) + values[i]);
    }
    return;
  }
  pb::Sample* sample = profile_.add_sample();
  for (uint64_t id : location_ids) sample->add_location_id(id);
  for (int64_t value : values) sample->add_value(value);
  for (pb::Label& label : encoded_labels) *sample->add_label() = std::move(label);
}

void ProfileBuilder::SetTime(int64_t time_nanos, int64_t duration_nanos) {
  profile_.set_time_nanos(time_nanos);
  profile_.set_duration_nanos(duration_nanos);
}

void ProfileBuilder::AddComment(const std::string& comment) {
  profile_.add_comment(Intern(comment));
}

void ProfileBuilder::SetDropFrames(const std::string& regex) {
  profile_.set_drop_frames(regex.empty() ? 0 : Intern(regex));
}

void ProfileBuilder::SetKeepFrames(const std::string& regex) {
  profile_.set_keep_frames(regex.empty() ? 0 : Intern(regex));
}

const perftools::profiles::Profile& ProfileBuilder::profile() { return profile_; }

std::string ProfileBuilder::SerializeGzipped() { return Gzip(profile_.SerializeAsString()); }

namespace {

// Collects CheckValid's first failure; later checks are skipped once one has failed.
class ProfileChecker {
 public:
  explicit ProfileChecker(const pb::Profile& profile) : profile_(profile) {}

  std::string Run() {
    CheckStringTable();
    CheckHeader();
    CheckMappings();
    CheckFunctions();
    CheckLocations();
    CheckSamples();
    return error_;
  }

 private:
  bool failed() const { return !error_.empty(); }

  void Fail(std::string message) {
    if (!failed()) error_ = std::move(message);
  }

  // Every string field is an index that pprof's decoder resolves; out of range means the whole
  // profile is rejected as malformed.
  void CheckString(int64_t index, const std::string& what) {
    if (failed()) return;
    if (index < 0 || index >= profile_.string_table_size()) {
      Fail(what + " is string index " + std::to_string(index) + ", outside string_table (size " +
           std::to_string(profile_.string_table_size()) + ")");
    }
  }

  void CheckStringTable() {
    if (profile_.string_table_size() == 0) {
      Fail("string_table is empty; string_table[0] must be \"\"");
    } else if (!profile_.string_table(0).empty()) {
      Fail("string_table[0] is \"" + profile_.string_table(0) + "\"; it must be \"\"");
    }
  }

  void CheckHeader() {
    for (int i = 0; i < profile_.sample_type_size(); ++i) {
      const std::string where = "sample_type[" + std::to_string(i) + "]";
      CheckString(profile_.sample_type(i).type(), where + ".type");
      CheckString(profile_.sample_type(i).unit(), where + ".unit");
    }
    if (profile_.has_period_type()) {
      CheckString(profile_.period_type().type(), "period_type.type");
      CheckString(profile_.period_type().unit(), "period_type.unit");
    }
    CheckString(profile_.drop_frames(), "drop_frames");
    CheckString(profile_.keep_frames(), "keep_frames");
    for (int i = 0; i < profile_.comment_size(); ++i) {
      CheckString(profile_.comment(i), "comment[" + std::to_string(i) + "]");
    }
    CheckString(profile_.default_sample_type(), "default_sample_type");
    if (failed() || profile_.default_sample_type() == 0) return;
    // Stricter than pprof's CheckValid: a default naming no sample type makes pprof's
    // -sample_index default fail, so treat it as invalid here.
    const bool names_a_sample_type = std::any_of(
        profile_.sample_type().begin(), profile_.sample_type().end(),
        [&](const pb::ValueType& type) { return type.type() == profile_.default_sample_type(); });
    if (!names_a_sample_type) {
      const auto index = static_cast<int>(profile_.default_sample_type());  // range-checked above
      Fail("default_sample_type \"" + profile_.string_table(index) + "\" names no sample_type");
    }
  }

  void CheckMappings() {
    for (int i = 0; i < profile_.mapping_size() && !failed(); ++i) {
      const pb::Mapping& mapping = profile_.mapping(i);
      const std::string where = "mapping[" + std::to_string(i) + "]";
      if (mapping.id() == 0) return Fail(where + " has reserved id 0");
      if (!mapping_ids_.insert(mapping.id()).second) {
        return Fail("multiple mappings with id " + std::to_string(mapping.id()));
      }
      CheckString(mapping.filename(), where + ".filename");
      CheckString(mapping.build_id(), where + ".build_id");
    }
  }

  void CheckFunctions() {
    for (int i = 0; i < profile_.function_size() && !failed(); ++i) {
      const pb::Function& function = profile_.function(i);
      const std::string where = "function[" + std::to_string(i) + "]";
      if (function.id() == 0) return Fail(where + " has reserved id 0");
      if (!function_ids_.insert(function.id()).second) {
        return Fail("multiple functions with id " + std::to_string(function.id()));
      }
      CheckString(function.name(), where + ".name");
      CheckString(function.system_name(), where + ".system_name");
      CheckString(function.filename(), where + ".filename");
    }
  }

  void CheckLocations() {
    for (int i = 0; i < profile_.location_size() && !failed(); ++i) {
      const pb::Location& location = profile_.location(i);
      const std::string where = "location[" + std::to_string(i) + "]";
      if (location.id() == 0) return Fail(where + " has reserved id 0");
      if (!location_ids_.insert(location.id()).second) {
        return Fail("multiple locations with id " + std::to_string(location.id()));
      }
      // mapping_id 0 means "no mapping"; anything else must resolve.
      if (location.mapping_id() != 0 && !mapping_ids_.contains(location.mapping_id())) {
        return Fail(where + " refers to mapping id " + std::to_string(location.mapping_id()) +
                    ", which is not in the profile");
      }
      for (int j = 0; j < location.line_size(); ++j) {
        const uint64_t function_id = location.line(j).function_id();
        if (function_id != 0 && !function_ids_.contains(function_id)) {
          return Fail(where + ".line[" + std::to_string(j) + "] refers to function id " +
                      std::to_string(function_id) + ", which is not in the profile");
        }
      }
    }
  }

  void CheckSamples() {
    if (failed()) return;
    const int value_count = profile_.sample_type_size();
    if (value_count == 0 && profile_.sample_size() != 0) {
      return Fail("missing sample type information: samples present but no sample_type");
    }
    for (int i = 0; i < profile_.sample_size() && !failed(); ++i) {
      const pb::Sample& sample = profile_.sample(i);
      const std::string where = "sample[" + std::to_string(i) + "]";
      if (sample.value_size() != value_count) {
        return Fail(where + " has " + std::to_string(sample.value_size()) + " values vs. " +
                    std::to_string(value_count) + " sample types");
      }
      for (uint64_t location_id : sample.location_id()) {
        if (!location_ids_.contains(location_id)) {
          return Fail(where + " refers to location id " + std::to_string(location_id) +
                      ", which is not in the profile");
        }
      }
      for (int j = 0; j < sample.label_size() && !failed(); ++j) {
        const pb::Label& label = sample.label(j);
        const std::string label_where = where + ".label[" + std::to_string(j) + "]";
        CheckString(label.key(), label_where + ".key");
        CheckString(label.str(), label_where + ".str");
        CheckString(label.num_unit(), label_where + ".num_unit");
        if (failed()) return;
        if (label.key() == 0) return Fail(label_where + " has an empty key");
        if (label.str() != 0 && (label.num() != 0 || label.num_unit() != 0)) {
          return Fail(label_where + " sets both str and num; at most one may be present");
        }
      }
    }
  }

  const pb::Profile& profile_;
  std::string error_;
  std::unordered_set<uint64_t> mapping_ids_;
  std::unordered_set<uint64_t> function_ids_;
  std::unordered_set<uint64_t> location_ids_;
};

// zlib counts in uInt; feed buffers larger than that in pieces.
constexpr size_t kMaxZlibChunk = UINT_MAX;
constexpr int kGzipWindowBits = 15 + 16;  // 32 KiB window, gzip header and trailer

}  // namespace

std::string CheckValid(const perftools::profiles::Profile& profile) {
  return ProfileChecker(profile).Run();
}

std::string Gzip(const std::string& data) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return {};
  }
  std::string out;
  out.resize(deflateBound(&stream, data.size()));
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  size_t in_left = data.size();
  size_t out_used = 0;
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    const size_t in_chunk = std::min(in_left, kMaxZlibChunk);
    stream.avail_in = static_cast<uInt>(in_chunk);
    if (out.size() - out_used < 64) out.resize(out.size() * 2 + 64);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + out_used);
    const size_t out_chunk = std::min(out.size() - out_used, kMaxZlibChunk);
    stream.avail_out = static_cast<uInt>(out_chunk);
    status = deflate(&stream, in_chunk == in_left ? Z_FINISH : Z_NO_FLUSH);
    in_left -= in_chunk - stream.avail_in;
    out_used += out_chunk - stream.avail_out;
    if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) {
      deflateEnd(&stream);
      return {};
    }
  }
  deflateEnd(&stream);
  out.resize(out_used);
  return out;
}

bool Gunzip(const std::string& data, std::string* out) {
  out->clear();
  z_stream stream{};
  if (inflateInit2(&stream, kGzipWindowBits) != Z_OK) return false;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  size_t in_left = data.size();
  size_t out_used = 0;
  out->resize(std::max<size_t>(data.size() * 4, 4096));
  bool ok = false;
  while (true) {
    const size_t in_chunk = std::min(in_left, kMaxZlibChunk);
    stream.avail_in = static_cast<uInt>(in_chunk);
    if (out->size() == out_used) out->resize(out->size() * 2);
    stream.next_out = reinterpret_cast<Bytef*>(out->data() + out_used);
    const size_t out_chunk = std::min(out->size() - out_used, kMaxZlibChunk);
    stream.avail_out = static_cast<uInt>(out_chunk);
    const int status = inflate(&stream, Z_NO_FLUSH);
    in_left -= in_chunk - stream.avail_in;
    out_used += out_chunk - stream.avail_out;
    if (status == Z_STREAM_END) {
      if (in_left == 0) {
        ok = true;
        break;
      }
      // Another gzip member follows (e.g. concatenated files); Go's reader accepts these too.
      if (inflateReset(&stream) != Z_OK) break;
      continue;
    }
    if (status == Z_BUF_ERROR) {
      // No progress possible: either more output space is needed or the input ended early.
      if (stream.avail_out == 0) continue;
      break;  // truncated input
    }
    if (status != Z_OK) break;  // corrupt data or a bad header
  }
  inflateEnd(&stream);
  out->resize(ok ? out_used : 0);
  return ok;
}

bool ParseGzippedProfile(const std::string& data, perftools::profiles::Profile* profile) {
  profile->Clear();
  std::string raw;
  if (Gunzip(data, &raw) && profile->ParseFromString(raw)) return true;
  profile->Clear();
  return false;
}

}  // namespace profd
