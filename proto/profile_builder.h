// Builds a pprof profile.proto: deduplicates strings, functions, locations and mappings, and writes
// it gzipped.
#ifndef PROFD_PROTO_PROFILE_BUILDER_H
#define PROFD_PROTO_PROFILE_BUILDER_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "profile.pb.h"
#include "utf8.h"  // ToValidUtf8: profile.proto's strings must be UTF-8

namespace profd {

struct ValueType {
  std::string type;  // e.g. "samples", "cpu"
  std::string unit;  // e.g. "count", "nanoseconds"
};

struct MappingInfo {
  uint64_t memory_start = 0;
  uint64_t memory_limit = 0;
  uint64_t file_offset = 0;
  std::string filename;
  std::string build_id;  // lowercase hex
  bool has_functions = false;
  bool has_filenames = false;
  bool has_line_numbers = false;
  bool has_inline_frames = false;
};

// One line of a Location: innermost inline frame first, physical function last.
struct LineInfo {
  std::string function;     // demangled name; becomes Function.name
  std::string system_name;  // mangled name if known, else same as function
  std::string filename;
  int64_t line = 0;
  int64_t column = 0;
  int64_t start_line = 0;  // first line of the function; becomes Function.start_line
};

// A string label (key, str) or a numeric label (key, num, num_unit). It is numeric when is_num is
// set, when num_unit is set, or when str is empty and num is not zero; otherwise it is a string.
struct Label {
  std::string key;
  std::string str;  // a string label when num_unit is empty and str is set
  int64_t num = 0;
  std::string num_unit;
  bool is_num = false;

  static Label String(std::string key, std::string value) {
    Label label;
    label.key = std::move(key);
    label.str = std::move(value);
    return label;
  }
  static Label Number(std::string key, int64_t num, std::string unit = "") {
    Label label;
    label.key = std::move(key);
    label.num = num;
    label.num_unit = std::move(unit);
    label.is_num = true;
    return label;
  }
  bool IsNumeric() const { return is_num || !num_unit.empty() || (str.empty() && num != 0); }
};

class ProfileBuilder {
 public:
  // `sample_types` in order; `default_sample_type` names one of them ("" = the last).
  ProfileBuilder(std::vector<ValueType> sample_types, std::string default_sample_type,
                 ValueType period_type, int64_t period);

  // Returns the mapping id (non-zero). Mappings are deduplicated on all of their fields.
  uint64_t AddMapping(const MappingInfo& mapping);

  // Returns the location id (non-zero), deduplicated on (mapping_id, address, lines).
  // mapping_id 0 means no mapping (e.g. kernel frames); an id AddMapping did not return is
  // recorded as 0 so the profile stays readable. Functions are deduplicated on
  // (function, system_name, filename, start_line).
  uint64_t AddLocation(uint64_t mapping_id, uint64_t address, const std::vector<LineInfo>& lines);

  // `location_ids` leaf first; `values` one per sample type. Samples with identical locations
  // and labels (in any order) are merged by adding their values. A sample with the wrong number
  // of values, an unknown location id or a label without a key is dropped and counted in
  // rejected_samples().
  void AddSample(const std::vector<uint64_t>& location_ids, const std::vector<int64_t>& values,
                 const std::vector<Label>& labels = {});

  void SetTime(int64_t time_nanos, int64_t duration_nanos);
  void AddComment(const std::string& comment);
  void SetDropFrames(const std::string& regex);
  void SetKeepFrames(const std::string& regex);

  // Samples AddSample refused because the caller broke its contract.
  uint64_t rejected_samples() const { return rejected_samples_; }

  // The profile so far. Mapping ids are 1..N in insertion order, so the main binary — the first
  // mapping added — is mapping[0] as pprof expects.
  const perftools::profiles::Profile& profile();

  // Serialized and gzip-compressed, as pprof reads it.
  std::string SerializeGzipped();

 private:
  int64_t Intern(const std::string& s);
  uint64_t InternFunction(const std::string& name, const std::string& system_name,
                          const std::string& filename, int64_t start_line);

  perftools::profiles::Profile profile_;
  std::unordered_map<std::string, int64_t> strings_;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, uint64_t> functions_;
  std::map<std::string, uint64_t> mappings_;   // key: serialized MappingInfo fields
  std::map<std::string, uint64_t> locations_;  // key: serialized (mapping, address, lines)
  std::map<std::string, size_t> samples_;  // key: locations + labels → index in profile_.sample
  uint64_t rejected_samples_ = 0;
};

// Checks the rules google/pprof's Profile.CheckValid enforces; returns "" when valid, else the
// first problem.
std::string CheckValid(const perftools::profiles::Profile& profile);

// gzip / gunzip helpers (zlib, gzip framing). Gunzip accepts concatenated gzip members, as Go's
// reader does, and returns false on corrupt or truncated input.
std::string Gzip(const std::string& data);
bool Gunzip(const std::string& data, std::string* out);

// Reads a gzipped profile.proto back (what SerializeGzipped writes, or what a pprof server sends).
// False, with `profile` cleared, when `data` is not one.
bool ParseGzippedProfile(const std::string& data, perftools::profiles::Profile* profile);

}  // namespace profd

#endif  // PROFD_PROTO_PROFILE_BUILDER_H
