#include "otlp_profile.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>

namespace profd {
namespace {

namespace otlp = opentelemetry::proto::profiles::v1development;
namespace common = opentelemetry::proto::common::v1;
using Request =
    opentelemetry::proto::collector::profiles::v1development::ExportProfilesServiceRequest;

// Fills the request's ProfilesDictionary: every table starts with its zero value (index 0 means
// "none"), and equal entries are stored once.
class DictionaryWriter {
 public:
  explicit DictionaryWriter(otlp::ProfilesDictionary* dictionary) : dictionary_(dictionary) {
    String("");
    dictionary_->add_mapping_table();
    dictionary_->add_location_table();
    dictionary_->add_function_table();
    // The zero link with ids of their full lengths, for readers that insist on 16 and 8 bytes.
    otlp::Link* no_link = dictionary_->add_link_table();
    no_link->set_trace_id(std::string(16, '\0'));
    no_link->set_span_id(std::string(8, '\0'));
    dictionary_->add_attribute_table();
    dictionary_->add_stack_table();
  }

  int32_t String(const std::string& s) {
    auto [it, added] = strings_.try_emplace(s, dictionary_->string_table_size());
    if (added) dictionary_->add_string_table(s);
    return it->second;
  }

  int32_t Attribute(const std::string& key, const common::AnyValue& value,
                    const std::string& unit = "") {
    const int32_t key_index = String(key), unit_index = unit.empty() ? 0 : String(unit);
    auto [it, added] =
        attributes_.try_emplace(std::make_tuple(key_index, value.SerializeAsString(), unit_index),
                                dictionary_->attribute_table_size());
    if (added) {
      otlp::KeyValueAndUnit* attribute = dictionary_->add_attribute_table();
      attribute->set_key_strindex(key_index);
      *attribute->mutable_value() = value;
      attribute->set_unit_strindex(unit_index);
    }
    return it->second;
  }

  int32_t Stack(const std::vector<int32_t>& location_indices) {
    auto [it, added] = stacks_.try_emplace(location_indices, dictionary_->stack_table_size());
    if (added) {
      otlp::Stack* stack = dictionary_->add_stack_table();
      for (const int32_t index : location_indices) stack->add_location_indices(index);
    }
    return it->second;
  }

  otlp::ProfilesDictionary* tables() { return dictionary_; }

 private:
  otlp::ProfilesDictionary* dictionary_;
  std::unordered_map<std::string, int32_t> strings_;
  std::map<std::tuple<int32_t, std::string, int32_t>, int32_t> attributes_;
  std::map<std::vector<int32_t>, int32_t> stacks_;
};

common::AnyValue StringValue(const std::string& s) {
  common::AnyValue value;
  value.set_string_value(s);
  return value;
}

common::AnyValue TrueValue() {
  common::AnyValue value;
  value.set_bool_value(true);
  return value;
}

// Reads the pprof profile's tables into the dictionary, and gives each sample its stack.
class PprofReader {
 public:
  PprofReader(const perftools::profiles::Profile& pprof, DictionaryWriter* dictionary)
      : pprof_(pprof), dictionary_(dictionary) {
    for (const auto& mapping : pprof.mapping()) AddMapping(mapping);
    for (const auto& function : pprof.function()) AddFunction(function);
    for (const auto& location : pprof.location()) AddLocation(location);
  }

  // A string-table entry of the pprof profile; "" for an index out of range.
  const std::string& Str(int64_t index) const {
    static const std::string kEmpty;
    return index > 0 && index < pprof_.string_table_size() ? pprof_.string_table(index) : kEmpty;
  }

  int32_t StackOf(const perftools::profiles::Sample& sample) {
    std::vector<int32_t> indices;
    indices.reserve(sample.location_id_size());
    for (const uint64_t id : sample.location_id()) indices.push_back(Index(locations_, id));
    return dictionary_->Stack(indices);
  }

  // The sample's labels as attribute indices; a key that repeats keeps its first value (an
  // OTLP sample's attributes have unique keys).
  std::vector<int32_t> AttributesOf(const perftools::profiles::Sample& sample) {
    std::vector<int32_t> indices;
    std::set<std::string> keys;
    for (const auto& label : sample.label()) {
      const std::string& key = Str(label.key());
      if (key.empty() || !keys.insert(key).second) continue;
      common::AnyValue value;
      if (label.str() != 0)
        value.set_string_value(Str(label.str()));
      else
        value.set_int_value(label.num());
      indices.push_back(dictionary_->Attribute(key, value, Str(label.num_unit())));
    }
    return indices;
  }

 private:
  static int32_t Index(const std::unordered_map<uint64_t, int32_t>& table, uint64_t id) {
    const auto it = table.find(id);
    return it == table.end() ? 0 : it->second;
  }

  void AddMapping(const perftools::profiles::Mapping& from) {
    otlp::ProfilesDictionary* tables = dictionary_->tables();
    otlp::Mapping mapping;
    mapping.set_memory_start(from.memory_start());
    mapping.set_memory_limit(from.memory_limit());
    mapping.set_file_offset(from.file_offset());
    mapping.set_filename_strindex(dictionary_->String(Str(from.filename())));
    if (!Str(from.build_id()).empty())  // profd's build ids are ELF GNU notes, in hex
      mapping.add_attribute_indices(dictionary_->Attribute("process.executable.build_id.gnu",
                                                           StringValue(Str(from.build_id()))));
    const std::pair<bool, const char*> flags[] = {
        {from.has_functions(), "pprof.mapping.has_functions"},
        {from.has_filenames(), "pprof.mapping.has_filenames"},
        {from.has_line_numbers(), "pprof.mapping.has_line_numbers"},
        {from.has_inline_frames(), "pprof.mapping.has_inline_frames"},
    };
    for (const auto& [set, key] : flags)
      if (set) mapping.add_attribute_indices(dictionary_->Attribute(key, TrueValue()));
    mappings_[from.id()] = tables->mapping_table_size();
    *tables->add_mapping_table() = std::move(mapping);
  }

  void AddFunction(const perftools::profiles::Function& from) {
    otlp::ProfilesDictionary* tables = dictionary_->tables();
    otlp::Function* function = tables->add_function_table();
    function->set_name_strindex(dictionary_->String(Str(from.name())));
    function->set_system_name_strindex(dictionary_->String(Str(from.system_name())));
    function->set_filename_strindex(dictionary_->String(Str(from.filename())));
    function->set_start_line(from.start_line());
    functions_[from.id()] = tables->function_table_size() - 1;
  }

  void AddLocation(const perftools::profiles::Location& from) {
    otlp::ProfilesDictionary* tables = dictionary_->tables();
    otlp::Location* location = tables->add_location_table();
    location->set_mapping_index(Index(mappings_, from.mapping_id()));
    location->set_address(from.address());
    for (const auto& from_line : from.line()) {  // innermost first in both
      otlp::Line* line = location->add_lines();
      line->set_function_index(Index(functions_, from_line.function_id()));
      line->set_line(from_line.line());
      line->set_column(from_line.column());
    }
    if (from.is_folded())
      location->add_attribute_indices(
          dictionary_->Attribute("pprof.location.is_folded", TrueValue()));
    locations_[from.id()] = tables->location_table_size() - 1;
  }

  const perftools::profiles::Profile& pprof_;
  DictionaryWriter* dictionary_;
  std::unordered_map<uint64_t, int32_t> mappings_, functions_, locations_;  // pprof id → index
};

// The order the profiles go in: the default sample type first, then the others as pprof has them.
std::vector<int> SampleTypeOrder(const perftools::profiles::Profile& pprof,
                                 const PprofReader& reader) {
  const int count = pprof.sample_type_size();
  int first = count - 1;  // pprof's default when default_sample_type is unset: the last
  if (pprof.default_sample_type() != 0)
    for (int i = 0; i < count; i++)
      if (reader.Str(pprof.sample_type(i).type()) == reader.Str(pprof.default_sample_type()))
        first = i;
  std::vector<int> order;
  if (count > 0) order.push_back(first);
  for (int i = 0; i < count; i++)
    if (i != first) order.push_back(i);
  return order;
}

void SetValueType(const perftools::profiles::ValueType& from, const PprofReader& reader,
                  DictionaryWriter* dictionary, otlp::ValueType* to) {
  to->set_type_strindex(dictionary->String(reader.Str(from.type())));
  to->set_unit_strindex(dictionary->String(reader.Str(from.unit())));
}

// pprof's profile-level text as the pprof.* attributes of each Profile.
std::vector<int32_t> ProfileAttributes(const perftools::profiles::Profile& pprof,
                                       const PprofReader& reader, DictionaryWriter* dictionary) {
  std::vector<int32_t> indices;
  if (pprof.comment_size() > 0) {
    common::AnyValue comments;
    for (const int64_t comment : pprof.comment())
      comments.mutable_array_value()->add_values()->set_string_value(reader.Str(comment));
    indices.push_back(dictionary->Attribute("pprof.profile.comment", comments));
  }
  if (!reader.Str(pprof.drop_frames()).empty())
    indices.push_back(dictionary->Attribute("pprof.profile.drop_frames",
                                            StringValue(reader.Str(pprof.drop_frames()))));
  if (!reader.Str(pprof.keep_frames()).empty())
    indices.push_back(dictionary->Attribute("pprof.profile.keep_frames",
                                            StringValue(reader.Str(pprof.keep_frames()))));
  return indices;
}

}  // namespace

Request PprofToOtlp(const perftools::profiles::Profile& pprof,
                    const std::vector<OtlpAttribute>& resource, const OtlpScope& scope,
                    const std::string& profile_id) {
  Request request;
  DictionaryWriter dictionary(request.mutable_dictionary());
  PprofReader reader(pprof, &dictionary);

  otlp::ResourceProfiles* resource_profiles = request.add_resource_profiles();
  for (const OtlpAttribute& attribute : resource) {
    common::KeyValue* kv = resource_profiles->mutable_resource()->add_attributes();
    kv->set_key(attribute.key);
    if (const auto* text = std::get_if<std::string>(&attribute.value))
      kv->mutable_value()->set_string_value(*text);
    else
      kv->mutable_value()->set_int_value(std::get<int64_t>(attribute.value));
  }
  otlp::ScopeProfiles* scope_profiles = resource_profiles->add_scope_profiles();
  scope_profiles->mutable_scope()->set_name(scope.name);
  scope_profiles->mutable_scope()->set_version(scope.version);

  // Stacks and attributes once per pprof sample, shared by every sample type's Profile.
  std::vector<int32_t> stacks;
  std::vector<std::vector<int32_t>> attributes;
  for (const auto& sample : pprof.sample()) {
    stacks.push_back(reader.StackOf(sample));
    attributes.push_back(reader.AttributesOf(sample));
  }
  const std::vector<int32_t> profile_attributes = ProfileAttributes(pprof, reader, &dictionary);

  uint8_t id_xor = 0;
  for (const int type : SampleTypeOrder(pprof, reader)) {
    otlp::Profile* profile = scope_profiles->add_profiles();
    SetValueType(pprof.sample_type(type), reader, &dictionary, profile->mutable_sample_type());
    if (pprof.has_period_type())
      SetValueType(pprof.period_type(), reader, &dictionary, profile->mutable_period_type());
    profile->set_period(pprof.period());
    profile->set_time_unix_nano(static_cast<uint64_t>(std::max<int64_t>(pprof.time_nanos(), 0)));
    profile->set_duration_nano(static_cast<uint64_t>(std::max<int64_t>(pprof.duration_nanos(), 0)));
    if (profile_id.size() == 16) {
      std::string id = profile_id;
      id.back() = static_cast<char>(static_cast<uint8_t>(id.back()) ^ id_xor++);
      profile->set_profile_id(id);
    }
    for (const int32_t index : profile_attributes) profile->add_attribute_indices(index);
    for (int i = 0; i < pprof.sample_size(); i++) {
      const auto& values = pprof.sample(i).value();
      if (type >= values.size() || values[type] == 0) continue;
      otlp::Sample* sample = profile->add_samples();
      sample->set_stack_index(stacks[static_cast<size_t>(i)]);
      for (const int32_t index : attributes[static_cast<size_t>(i)])
        sample->add_attribute_indices(index);
      sample->add_values(values[type]);
    }
  }
  return request;
}

uint64_t OtlpSampleCount(const Request& request) {
  uint64_t count = 0;
  for (const auto& resource : request.resource_profiles())
    for (const auto& scope : resource.scope_profiles())
      for (const auto& profile : scope.profiles()) count += profile.samples_size();
  return count;
}

}  // namespace profd
