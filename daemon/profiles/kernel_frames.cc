#include "profiles/kernel_frames.h"

#include <cctype>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace profd {
namespace {

namespace pb = perftools::profiles;

constexpr char kKernelMappingName[] = "[kernel.kallsyms]";

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `text` with every run of hex digits (with or without 0x) whose value is in the kernel half
// replaced; longer runs (build ids, hashes) are not addresses and stay.
std::string ScrubKernelHex(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    size_t digits = i;
    if (text.compare(i, 2, "0x") == 0 || text.compare(i, 2, "0X") == 0) digits = i + 2;
    size_t end = digits;
    uint64_t value = 0;
    while (end < text.size() && HexDigit(text[end]) >= 0) {
      if (end - digits < 16) value = value << 4 | static_cast<uint64_t>(HexDigit(text[end]));
      end++;
    }
    const bool word_start =
        start == 0 || !std::isalnum(static_cast<unsigned char>(text[start - 1]));
    if (end > digits && end - digits <= 16 && word_start && value >= kKernelSpaceStart) {
      out += "(hidden)";
      i = end;
    } else if (end > digits) {
      out.append(text, start, end - start);
      i = end;
    } else {
      out += text[i++];
    }
  }
  return out;
}

}  // namespace

void HideKernelAddresses(pb::Profile* profile, KernelFrames mode) {
  std::unordered_set<uint64_t> kernel_mappings;
  for (pb::Mapping& m : *profile->mutable_mapping()) {
    const bool named = m.filename() > 0 && m.filename() < profile->string_table_size() &&
                       profile->string_table(static_cast<int>(m.filename())) == kKernelMappingName;
    if (named || m.memory_start() >= kKernelSpaceStart || m.memory_limit() > kKernelSpaceStart)
      kernel_mappings.insert(m.id());
  }
  auto is_kernel = [&](const pb::Location& l) {
    return kernel_mappings.count(l.mapping_id()) || l.address() >= kKernelSpaceStart;
  };

  if (mode == KernelFrames::kNames) {
    std::unordered_map<uint64_t, uint64_t> stand_ins;  // kernel address → stand-in
    for (pb::Location& l : *profile->mutable_location()) {
      if (!is_kernel(l)) continue;
      auto [it, added] = stand_ins.try_emplace(l.address(), kKernelStandInStart + stand_ins.size());
      l.set_address(it->second);
    }
    for (pb::Mapping& m : *profile->mutable_mapping()) {
      if (!kernel_mappings.count(m.id())) continue;
      m.set_memory_start(kKernelStandInStart);
      m.set_memory_limit(kKernelStandInStart + stand_ins.size() + 1);
      m.set_file_offset(0);
    }
  } else {
    std::unordered_set<uint64_t> removed;
    google::protobuf::RepeatedPtrField<pb::Location> kept;
    uint64_t next_id = 1;
    for (pb::Location& l : *profile->mutable_location()) {
      next_id = std::max(next_id, l.id() + 1);
      if (is_kernel(l))
        removed.insert(l.id());
      else
        *kept.Add() = std::move(l);
    }
    profile->mutable_location()->Swap(&kept);
    // A sample taken wholly in the kernel keeps one frame that says so.
    uint64_t placeholder = 0;
    for (pb::Sample& s : *profile->mutable_sample()) {
      google::protobuf::RepeatedField<uint64_t> ids;
      for (uint64_t id : s.location_id())
        if (!removed.count(id)) ids.Add(id);
      if (ids.empty() && !s.location_id().empty()) {
        if (!placeholder) {
          uint64_t function_id = 1;
          for (const pb::Function& f : profile->function())
            function_id = std::max(function_id, f.id() + 1);
          pb::Function* f = profile->add_function();
          f->set_id(function_id);
          f->set_name(profile->string_table_size());
          f->set_system_name(profile->string_table_size());
          profile->add_string_table("[kernel]");
          pb::Location* l = profile->add_location();
          placeholder = next_id;
          l->set_id(placeholder);
          l->add_line()->set_function_id(function_id);
        }
        ids.Add(placeholder);
      }
      s.mutable_location_id()->Swap(&ids);
    }
    // Functions and mappings only kernel locations used go too, and so do their strings.
    std::unordered_set<uint64_t> used_functions;
    std::unordered_set<uint64_t> used_mappings;
    for (const pb::Location& l : profile->location()) {
      used_mappings.insert(l.mapping_id());
      for (const pb::Line& line : l.line()) used_functions.insert(line.function_id());
    }
    google::protobuf::RepeatedPtrField<pb::Function> functions;
    for (pb::Function& f : *profile->mutable_function())
      if (used_functions.count(f.id())) *functions.Add() = std::move(f);
    profile->mutable_function()->Swap(&functions);
    google::protobuf::RepeatedPtrField<pb::Mapping> mappings;
    for (pb::Mapping& m : *profile->mutable_mapping())
      if (!kernel_mappings.count(m.id()) || used_mappings.count(m.id()))
        *mappings.Add() = std::move(m);
    profile->mutable_mapping()->Swap(&mappings);

    std::set<int64_t> used_strings = {0, profile->drop_frames(), profile->keep_frames(),
                                      profile->default_sample_type()};
    for (const pb::ValueType& t : profile->sample_type()) used_strings.insert({t.type(), t.unit()});
    used_strings.insert({profile->period_type().type(), profile->period_type().unit()});
    for (const pb::Sample& s : profile->sample())
      for (const pb::Label& label : s.label())
        used_strings.insert({label.key(), label.str(), label.num_unit()});
    for (const pb::Mapping& m : profile->mapping())
      used_strings.insert({m.filename(), m.build_id()});
    for (const pb::Function& f : profile->function())
      used_strings.insert({f.name(), f.system_name(), f.filename()});
    for (int64_t c : profile->comment()) used_strings.insert(c);
    for (int i = 1; i < profile->string_table_size(); i++)
      if (!used_strings.count(i)) profile->mutable_string_table(i)->clear();
  }
  for (int i = 1; i < profile->string_table_size(); i++)
    *profile->mutable_string_table(i) = ScrubKernelHex(profile->string_table(i));
  profile->add_comment(profile->string_table_size());
  profile->add_string_table(mode == KernelFrames::kNames
                                ? "kernel addresses hidden (only root may see them): kernel frames "
                                  "by name, at stand-in addresses from 0x100000000000000"
                                : "kernel frames left out (only root may see them)");
}

}  // namespace profd
