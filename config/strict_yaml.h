// A strict reader of a YAML configuration: one document of UTF-8 text, mappings whose keys are
// checked against a schema (an unknown key gets the nearest known one as a suggestion, a repeated
// key is an error), typed values kept within their ranges, and every problem collected with its
// file, line and column rather than stopping at the first. The schema itself is the caller's
// (daemon_config.cc).
#ifndef PROFD_CONFIG_STRICT_YAML_H
#define PROFD_CONFIG_STRICT_YAML_H

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace profd {

// Past the first kMaxConfigErrors problems the rest are only counted as "more".
constexpr size_t kMaxConfigErrors = 20;

std::string Quote(const std::string& text);
std::string Join(const std::vector<std::string>& items, const char* separator);
// What a node is, for "expected X, got Y".
std::string Describe(const YAML::Node& node);
bool IsAbsolutePath(const std::string& path);

// A value in the file and where it is: `key` is dotted ("schedule.interval", "targets.pids[2]").
struct Value {
  YAML::Node node;
  std::string key;
  YAML::Mark key_mark;
  // Where to point at the value. An empty value's mark is where the next token starts (often the
  // next line), so point at its key instead.
  YAML::Mark Where() const {
    return node.IsNull() || node.Mark().is_null() ? key_mark : node.Mark();
  }
};

class StrictYamlReader {
 public:
  explicit StrictYamlReader(std::string source) : source_(std::move(source)) {}
  const std::vector<std::string>& errors() const { return errors_; }

 protected:
  using Reader = std::function<void(const Value&)>;
  struct Field {
    const char* name;
    Reader read;
  };

  // The document of `text` (null for an empty file, or only comments); false (reported) when it is
  // no text, no YAML, or more than one document.
  bool Load(const std::string& text, YAML::Node* document);

  // A NUL or a byte that is not UTF-8 would reach YAML, which names it wrongly ("unknown escape
  // character"): said here in words, with where it is.
  bool CheckIsText(const std::string& text);

  void Error(const YAML::Mark& mark, const std::string& key, const std::string& message);

  void Error(const Value& value, const std::string& message);

  // Checks the keys of a mapping against `fields` and reads each. An empty section (null: every
  // line under it commented out) keeps the defaults.
  void ReadMap(const Value& section, const std::vector<Field>& fields);

  // The text of a scalar value; false (reported) for nothing, a list or a mapping. `allowed` is
  // "expected ...".
  bool Scalar(const Value& value, const std::string& allowed, std::string* text,
              const std::string& hint_for_collection = "");

  Reader String(std::string* out, std::function<bool(const Value&, const std::string&)> check);

  Reader AbsolutePath(std::string* out, bool may_be_empty);

  bool ParseInteger(const Value& value, long long min, long long max, const std::string& what,
                    long long* out);

  Reader Integer(int* out, int min, int max, const std::string& what);

  // A scalar read with `parse` (ParseDuration, ParseByteSize) and kept within [min, max].
  template <typename T>
  Reader Ranged(T* out, T min, T max, const std::string& allowed,
                bool (*parse)(std::string_view, T*, std::string*)) {
    return [=, this](const Value& value) {
      std::string text, error;
      if (!Scalar(value, allowed, &text)) return;
      T parsed;
      if (!parse(text, &parsed, &error)) {
        Error(value, error);
        return;
      }
      if (parsed < min || parsed > max) {
        Error(value, text + " is out of range; " + allowed);
        return;
      }
      *out = parsed;
    };
  }

  Reader Duration(std::chrono::nanoseconds* out, std::chrono::nanoseconds min,
                  std::chrono::nanoseconds max, const std::string& what);

  Reader ByteSize(uint64_t* out, uint64_t min, uint64_t max, const std::string& what);

  Reader Boolean(bool* out, bool* given);

  // A list; each item goes to `item` with key "name[i]". An empty value is an empty list (every
  // item commented out). The list is only stored when every item was good.
  template <typename T>
  Reader List(std::vector<T>* out, const std::string& example,
              std::function<bool(const Value&, T*)> item) {
    return [=, this](const Value& value) {
      if (value.node.IsNull()) {
        out->clear();
        return;
      }
      if (!value.node.IsSequence()) {
        Error(value, "expected a list, e.g. " + example + ", got " + Describe(value.node));
        return;
      }
      std::vector<T> items;
      std::vector<size_t> positions;  // of each item in the file's list, for "repeats [i]"
      bool good = true;
      for (size_t i = 0; i < value.node.size(); ++i) {
        const Value element{value.node[i], value.key + "[" + std::to_string(i) + "]",
                            value.key_mark};
        T parsed;
        if (!item(element, &parsed)) {
          good = false;
          continue;
        }
        if (auto earlier = std::find(items.begin(), items.end(), parsed); earlier != items.end()) {
          Error(element, Quote(element.node.Scalar()) + " repeats " + value.key + "[" +
                             std::to_string(positions[earlier - items.begin()]) + "]");
          good = false;
          continue;
        }
        items.push_back(parsed);
        positions.push_back(i);
      }
      if (good) *out = std::move(items);
    };
  }

  std::map<std::string, YAML::Mark> key_marks_;  // dotted key -> where it is, for cross-key checks

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

}  // namespace profd

#endif  // PROFD_CONFIG_STRICT_YAML_H
