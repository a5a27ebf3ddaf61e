#include "daemon_config.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string_view>

#include "listen_address.h"
#include "units.h"
#include "utf8.h"

namespace profd {
namespace {

using std::chrono::nanoseconds;

constexpr size_t kMaxErrors = 20;
// A config file is a few KiB; this stops /dev/zero, and bounds what YAML builds (its nodes take
// about 100 bytes per byte of a file of keys).
constexpr size_t kMaxFileBytes = 256 << 10;
constexpr pid_t kMaxPid = 4194304;         // PID_MAX_LIMIT on 64-bit kernels

// Optimal string alignment distance: Levenshtein plus swaps of neighbours ("intreval").
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string Quote(const std::string& text) { return "\"" + text + "\""; }

std::string Join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// What a node is, for "expected X, got Y".
std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    default:
      return "nothing";
  }
}

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

// Two values that YAML reads as something else unless quoted, and its message does not say so.
std::string SyntaxHint(const std::string& text, const YAML::ParserException& e) {
  if (e.msg.find("anchor") != std::string::npos)
    return " (a value starting with * is an alias in YAML: quote a glob, e.g. \"*nginx*\")";
  std::string line;
  if (!e.mark.is_null()) {
    size_t begin = 0;
    for (int i = 0; i < e.mark.line && begin != std::string::npos; ++i) {
      const size_t newline = text.find('\n', begin);
      begin = newline == std::string::npos ? newline : newline + 1;
    }
    if (begin != std::string::npos) line = text.substr(begin, text.find('\n', begin) - begin);
  }
  if (line.find('[') != std::string::npos && line.find("]:") != std::string::npos)
    return " (a value starting with [ is a YAML list: quote an IPv6 address, e.g. listen: "
           "\"[::1]:6061\")";
  return "";
}

bool IsAbsolutePath(const std::string& path) { return !path.empty() && path[0] == '/'; }

// Where each of the first two documents of the stream starts (its root node's mark); throws as
// YAML::LoadAll does. Not LoadAll: yaml-cpp 0.7's loops forever, allocating a null document each
// turn, on malformed input such as ",\n  c" (jbeder/yaml-cpp#1040, fixed upstream after 0.7);
// here a document that starts where the one before it started is no new document, and two are all
// the reader needs.
std::vector<YAML::Mark> DocumentStarts(const std::string& text) {
  struct Document {
    YAML::Mark start;  // of the document (its "---", if any)
    YAML::Mark root;   // of its first node
    bool has_root = false;
  };
  class Starts : public YAML::EventHandler {
   public:
    explicit Starts(std::vector<Document>* documents) : documents_(*documents) {}
    void OnDocumentStart(const YAML::Mark& mark) override { documents_.push_back({mark, mark}); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Node(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  const std::string&) override {
      Node(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
      Node(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
      Node(mark);
    }
    void OnMapEnd() override {}

   private:
    void Node(const YAML::Mark& mark) {
      if (documents_.empty() || documents_.back().has_root) return;
      documents_.back().root = mark;
      documents_.back().has_root = true;
    }
    std::vector<Document>& documents_;
  };
  std::vector<Document> documents;
  std::istringstream in(text);
  YAML::Parser parser(in);
  Starts starts(&documents);
  while (documents.size() < 2) {
    const size_t before = documents.size();
    if (!parser.HandleNextDocument(starts)) break;
    if (before > 0 && documents.size() > before &&
        documents.back().start.pos <= documents[before - 1].start.pos) {
      documents.pop_back();  // no progress: the parser is stuck, not at a second document
      break;
    }
  }
  std::vector<YAML::Mark> marks;
  for (const Document& document : documents) marks.push_back(document.root);
  return marks;
}

// A second document needs a line that starts with "---" or "..." (YAML 1.2, 9.2); without one the
// stream is not parsed twice.
bool MayHoldSeveralDocuments(std::string_view text) {
  for (size_t line = 0; line < text.size();) {
    const std::string_view rest = text.substr(line);
    if (rest.starts_with("---") || rest.starts_with("...")) return true;
    const size_t end = text.find('\n', line);
    if (end == std::string_view::npos) break;
    line = end + 1;
  }
  return false;
}

// Reads the document into a DaemonConfig, collecting every problem rather than stopping at the
// first, so one run of the daemon shows all that is wrong with a file.
class ConfigReader {
 public:
  ConfigReader(std::string source, const std::vector<KnownProfileType>& types,
               DaemonConfig* config)
      : source_(std::move(source)), types_(types), config_(*config) {}

  void Read(const std::string& text) {
    if (!CheckIsText(text)) return;
    std::vector<YAML::Mark> starts;
    YAML::Node document;  // null for an empty file, or only comments: the defaults
    try {
      if (MayHoldSeveralDocuments(text)) starts = DocumentStarts(text);
      document = YAML::Load(text);
    } catch (const YAML::DeepRecursion& e) {  // its message is only "bad file"
      Error(e.mark, "",
            "lists or mappings nested " + std::to_string(e.depth()) +
                " deep, more than YAML is read to; the configuration nests at most 3 levels "
                "(section, key, list)");
      return;
    } catch (const YAML::ParserException& e) {
      Error(e.mark, "", "YAML syntax error: " + e.msg + SyntaxHint(text, e));
      return;
    } catch (const YAML::Exception& e) {
      Error(e.mark, "", std::string("cannot parse: ") + e.what());
      return;
    }
    if (starts.size() > 1) {
      Error(starts[1], "",
            "a second YAML document (after ---); the configuration is a single document");
      return;
    }
    try {
      ReadMap(Value{document, "", document.Mark()}, TopLevelFields());
    } catch (const YAML::Exception& e) {  // not expected: every node is checked before use
      Error(e.mark, "", std::string("cannot read: ") + e.what());
    }
    if (errors_.empty()) CheckAcrossKeys();
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  using Reader = std::function<void(const Value&)>;
  struct Field {
    const char* name;
    Reader read;
  };

  // A NUL or a byte that is not UTF-8 would reach YAML, which names it wrongly ("unknown escape
  // character"): said here in words, with where it is.
  bool CheckIsText(const std::string& text) {
    const size_t nul = text.find('\0');
    const size_t bad = std::min(nul, FirstInvalidUtf8(text));
    if (bad == std::string::npos) return true;
    YAML::Mark mark;
    mark.pos = static_cast<int>(bad);
    const size_t line_start = bad == 0 ? 0 : text.rfind('\n', bad - 1) + 1;  // npos + 1 is 0
    mark.line = static_cast<int>(std::count(text.begin(), text.begin() + bad, '\n'));
    mark.column = static_cast<int>(bad - line_start);
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[bad]));
    Error(mark, "",
          bad == nul ? std::string("a NUL byte (0x00): a configuration file is text; is this "
                                   "the configuration file?")
                     : std::string("byte ") + byte +
                           " is not UTF-8: the configuration is read as UTF-8 text; save it "
                           "as UTF-8");
    return false;
  }

  void Error(const YAML::Mark& mark, const std::string& key, const std::string& message) {
    // Past the first kMaxErrors problems the rest are only counted as "more": a file of 100,000
    // unknown keys must not cost seconds and megabytes of messages nobody reads.
    if (errors_.size() > kMaxErrors) return;
    std::string line = source_ + ":";
    if (!mark.is_null())
      line += std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ":";
    line += " ";
    if (!key.empty()) line += key + ": ";
    errors_.push_back(line + message);
  }
  void Error(const Value& value, const std::string& message) {
    Error(value.Where(), value.key, message);
  }

  // Checks the keys of a mapping against `fields` and reads each. An empty section (null: every
  // line under it commented out) keeps the defaults.
  void ReadMap(const Value& section, const std::vector<Field>& fields) {
    std::vector<std::string> names;
    for (const Field& f : fields) names.push_back(f.name);
    const std::string takes = (section.key.empty() ? "the top level" : section.key) +
                              " takes the keys " + Join(names, ", ");
    if (section.node.IsNull()) return;
    if (!section.node.IsMap()) {
      Error(section,
            "expected a mapping (key: value lines), got " + Describe(section.node) + "; " + takes);
      return;
    }
    std::map<std::string, YAML::Mark> seen;
    for (auto it = section.node.begin(); it != section.node.end(); ++it) {
      if (errors_.size() > kMaxErrors) return;  // enough said
      const YAML::Node key = it->first;
      if (!key.IsScalar()) {
        Error(key.Mark(), section.key, "a key must be a name, not " + Describe(key) + "; " + takes);
        continue;
      }
      const std::string& name = key.Scalar();
      const std::string dotted = section.key.empty() ? name : section.key + "." + name;
      if (auto first = seen.find(name); first != seen.end()) {
        Error(key.Mark(), dotted,
              "is given twice (first on line " + std::to_string(first->second.line + 1) + ")");
        continue;
      }
      seen.emplace(name, key.Mark());
      const Field* field = nullptr;
      const Field* closest = nullptr;
      size_t closest_distance = 3;  // suggest only within an edit distance of 2
      for (const Field& f : fields) {
        if (name == f.name) field = &f;
        const size_t distance = EditDistance(name, f.name);
        if (distance < closest_distance) closest = &f, closest_distance = distance;
      }
      if (field == nullptr) {
        std::string message = "unknown key";
        if (closest != nullptr)
          message += "; did you mean " + (section.key.empty() ? "" : section.key + ".") +
                     closest->name + "?";
        Error(key.Mark(), dotted, message + " (" + takes + ")");
        continue;
      }
      key_marks_[dotted] = key.Mark();
      field->read(Value{it->second, dotted, key.Mark()});
    }
  }

  // The text of a scalar value; false (reported) for nothing, a list or a mapping. `allowed` is
  // "expected ...".
  bool Scalar(const Value& value, const std::string& allowed, std::string* text,
              const std::string& hint_for_collection = "") {
    if (value.node.IsNull()) {
      Error(value, "has no value; " + allowed);
      return false;
    }
    if (!value.node.IsScalar()) {
      Error(value, "got " + Describe(value.node) + "; " + allowed + hint_for_collection);
      return false;
    }
    *text = value.node.Scalar();
    return true;
  }

  Reader String(std::string* out, std::function<bool(const Value&, const std::string&)> check) {
    return [this, out, check = std::move(check)](const Value& value) {
      std::string text;
      // A flow list or mapping here is most likely an unquoted "[::1]:6061".
      if (Scalar(value, "expected a string", &text, " (quote a string that starts with [ or {)") &&
          (!check || check(value, text)))
        *out = text;
    };
  }

  Reader AbsolutePath(std::string* out, bool may_be_empty) {
    return String(out, [this, may_be_empty](const Value& value, const std::string& text) {
      if ((may_be_empty && text.empty()) || IsAbsolutePath(text)) return true;
      Error(value, Quote(text) + " is not an absolute path; expected a path starting with /" +
                       (may_be_empty ? " or \"\"" : ""));
      return false;
    });
  }

  bool ParseInteger(const Value& value, long long min, long long max, const std::string& what,
                    long long* out) {
    const std::string allowed = "expected " + what + ", a whole number from " +
                                std::to_string(min) + " to " + std::to_string(max);
    std::string text;
    if (!Scalar(value, allowed, &text)) return false;
    std::string_view digits = text;
    if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
    long long parsed = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
    if (digits.empty() || end != digits.data() + digits.size() ||
        (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      Error(value, Quote(text) + " is not a whole number; " + allowed);
      return false;
    }
    if (ec == std::errc::result_out_of_range || parsed < min || parsed > max) {
      Error(value, text + " is out of range; " + allowed);
      return false;
    }
    *out = parsed;
    return true;
  }

  Reader Integer(int* out, int min, int max, const std::string& what) {
    return [=, this](const Value& value) {
      long long parsed;
      if (ParseInteger(value, min, max, what, &parsed)) *out = static_cast<int>(parsed);
    };
  }

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

  Reader Duration(nanoseconds* out, nanoseconds min, nanoseconds max, const std::string& what) {
    return Ranged(out, min, max,
                  "expected " + what + ", a duration from " + FormatDuration(min) + " to " +
                      FormatDuration(max) +
                      " (e.g. 30s, 500ms, 10us, 2m, 1h, 7d; a plain number is seconds)",
                  &ParseDuration);
  }

  Reader ByteSize(uint64_t* out, uint64_t min, uint64_t max, const std::string& what) {
    return Ranged(out, min, max,
                  "expected " + what + ", a size from " + FormatByteSize(min) + " to " +
                      FormatByteSize(max) + " bytes (e.g. 4096, 512KiB, 100MB, 1GiB)",
                  &ParseByteSize);
  }

  Reader Boolean(bool* out, bool* given) {
    return [this, out, given](const Value& value) {
      const std::string allowed = "expected true or false";
      std::string text;
      if (!Scalar(value, allowed, &text)) return;
      std::string lower = text;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      // YAML 1.1's spellings too, as yaml-cpp reads them.
      if (lower == "true" || lower == "yes" || lower == "on") {
        *out = true;
      } else if (lower == "false" || lower == "no" || lower == "off") {
        *out = false;
      } else {
        Error(value, Quote(text) + " is not a boolean; " + allowed);
        return;
      }
      if (given) *given = true;
    };
  }

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

  std::vector<Field> TopLevelFields() {
    DaemonConfig& c = config_;
    return {
        {"listen", String(&c.listen,
                          [this](const Value& value, const std::string& text) {
                            ListenAddress address;
                            std::string error;
                            if (text.empty() || ParseListenAddress(text, &address, &error))
                              return true;
                            Error(value, error + "; \"\" turns HTTP off");
                            return false;
                          })},
        {"socket_path",
         String(&c.socket_path,
                [this](const Value& value, const std::string& text) {
                  if (!IsAbsolutePath(text)) {
                    Error(value, Quote(text) +
                                     " is not an absolute path; expected a path starting with /");
                    return false;
                  }
                  if (text.size() >= sizeof(sockaddr_un{}.sun_path)) {
                    Error(value, "is " + std::to_string(text.size()) +
                                     " bytes long; a Unix socket path has at most " +
                                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1));
                    return false;
                  }
                  return true;
                })},
        {"token_file", AbsolutePath(&c.token_file, /*may_be_empty=*/true)},
        {"frequency_hz", Integer(&c.frequency_hz, 1, 10000, "CPU samples per second per CPU")},
        {"unwind", [this](const Value& v) { ReadUnwind(v); }},
        {"schedule", [this](const Value& v) { ReadMap(v, ScheduleFields()); }},
        {"targets", [this](const Value& v) { ReadMap(v, TargetsFields()); }},
        {"store", [this](const Value& v) { ReadMap(v, StoreFields()); }},
        {"limits", [this](const Value& v) { ReadMap(v, LimitsFields()); }},
        {"heap", [this](const Value& v) { ReadMap(v, HeapFields()); }},
        {"block", [this](const Value& v) { ReadMap(v, BlockFields()); }},
        {"security", [this](const Value& v) { ReadMap(v, SecurityFields()); }},
    };
  }

  void ReadUnwind(const Value& value) {
    const std::string allowed =
        "expected dwarf (unwind tables from .eh_frame, frame pointers where a binary has none) or "
        "fp (frame pointers only)";
    std::string text;
    if (!Scalar(value, allowed, &text)) return;
    if (text != "dwarf" && text != "fp") {
      Error(value, Quote(text) + " is not an unwinding mode; " + allowed);
      return;
    }
    config_.dwarf_unwinding = text == "dwarf";
  }

  std::vector<Field> ScheduleFields() {
    DaemonConfig::Schedule& s = config_.schedule;
    return {
        {"interval", Duration(&s.interval, std::chrono::seconds(1), std::chrono::hours(24),
                              "the time between scheduled rounds")},
        {"cpu_seconds", Duration(&s.cpu_seconds, nanoseconds(1), std::chrono::hours(24),
                                 "the window of each scheduled profile")},
        {"types", List<std::string>(&s.types, "[cpu, block]",
                                    [this](const Value& value, std::string* canonical) {
                                      return ReadProfileType(value, canonical);
                                    })},
    };
  }

  bool ReadProfileType(const Value& value, std::string* canonical) {
    std::string list;  // "cpu, block (alias offcpu), ..."
    for (const KnownProfileType& t : types_) {
      if (!t.refusal.empty() || t.canonical != t.name) continue;
      list += std::string(list.empty() ? "" : ", ") + t.name;
      for (const KnownProfileType& alias : types_)
        if (alias.canonical == t.name && alias.name != t.name) list += " (alias " + alias.name + ")";
    }
    const std::string allowed = "expected one of " + list;
    std::string text;
    if (!Scalar(value, allowed, &text)) return false;
    for (const KnownProfileType& t : types_) {
      if (text != t.name) continue;
      if (!t.refusal.empty()) {
        Error(value, t.name + " " + t.refusal + "; " + allowed);
        return false;
      }
      *canonical = t.canonical;
      return true;
    }
    Error(value, "unknown profile type " + Quote(text) + "; " + allowed);
    return false;
  }

  std::vector<Field> TargetsFields() {
    DaemonConfig::Targets& t = config_.targets;
    return {
        {"all", Boolean(&t.all, &all_given_)},
        {"pids", List<pid_t>(&t.pids, "[1234, 5678]",
                             [this](const Value& value, pid_t* pid) {
                               long long parsed;
                               if (!ParseInteger(value, 1, kMaxPid, "a process id", &parsed))
                                 return false;
                               *pid = static_cast<pid_t>(parsed);
                               return true;
                             })},
        {"process_names", List<std::string>(&t.process_names, "[nginx, \"postgres*\"]",
                                            [this](const Value& value, std::string* pattern) {
                                              return ReadProcessName(value, pattern);
                                            })},
        {"cgroups", List<std::string>(&t.cgroups, "[nginx.service, /system.slice/foo.service]",
                                      [this](const Value& value, std::string* cgroup) {
                                        return ReadCgroup(value, cgroup);
                                      })},
    };
  }

  bool ReadProcessName(const Value& value, std::string* pattern) {
    const std::string allowed =
        "expected a glob matched against the command name or the executable's file name (e.g. "
        "nginx, "
        "\"postgres*\")";
    if (!Scalar(value, allowed, pattern)) return false;
    if (pattern->empty()) {
      Error(value, "is empty; " + allowed);
      return false;
    }
    if (pattern->find('/') != std::string::npos) {
      Error(value,
            Quote(*pattern) + " contains a /; patterns match a name, not a path; " + allowed);
      return false;
    }
    return true;
  }

  bool ReadCgroup(const Value& value, std::string* cgroup) {
    const std::string allowed =
        "expected a cgroup v2 path as in /proc/PID/cgroup (e.g. /system.slice/nginx.service) or a "
        "systemd "
        "unit name ending in .service, .scope or .slice";
    std::string text;
    if (!Scalar(value, allowed, &text)) return false;
    if (text.empty()) {
      Error(value, "is empty; " + allowed);
      return false;
    }
    if (text[0] == '/') {
      std::string path = text;
      constexpr std::string_view kMount = "/sys/fs/cgroup";
      if (path == kMount || path.starts_with(std::string(kMount) + "/"))
        path = path.substr(kMount.size());
      while (path.size() > 1 && path.back() == '/') path.pop_back();
      if (path.empty()) path = "/";
      if (path.find("//") != std::string::npos || path.find("/./") != std::string::npos ||
          path.find("/../") != std::string::npos || path.ends_with("/.") || path.ends_with("/..")) {
        Error(value, Quote(text) + " is not a plain cgroup path (no //, . or ..); " + allowed);
        return false;
      }
      *cgroup = path;
      return true;
    }
    const bool unit_chars = std::all_of(text.begin(), text.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr(":_.-@\\", c) != nullptr;
    });
    for (std::string_view suffix : {".service", ".scope", ".slice"}) {
      if (unit_chars && text.size() > suffix.size() && text.ends_with(suffix)) {
        *cgroup = text;
        return true;
      }
    }
    Error(value, Quote(text) + " is neither a cgroup path nor a systemd unit name; " + allowed);
    return false;
  }

  std::vector<Field> StoreFields() {
    DaemonConfig::Store& s = config_.store;
    return {
        {"directory", AbsolutePath(&s.directory, /*may_be_empty=*/false)},
        {"max_age", Duration(&s.max_age, std::chrono::minutes(1), std::chrono::hours(24 * 3650),
                             "how long a stored profile is kept")},
        {"max_bytes", ByteSize(&s.max_bytes, uint64_t{1} << 20, ~uint64_t{0},
                               "the most bytes the stored profiles may take")},
    };
  }

  std::vector<Field> LimitsFields() {
    DaemonConfig::Limits& l = config_.limits;
    return {
        {"max_concurrent_requests",
         Integer(&l.max_concurrent_requests, 1, 1024, "the most profile requests served at once")},
        {"max_seconds", Duration(&l.max_seconds, std::chrono::seconds(1), std::chrono::hours(24),
                                 "the longest window a client may ask for")},
        {"max_targets",
         Integer(&l.max_targets, 1, 65536, "the most processes one scheduled round profiles")},
        {"max_cumulative_profiles",
         Integer(&l.max_cumulative_profiles, 0, 1024,
                 "the most cumulative profiles (requests without ?seconds) tracked at once")},
        {"cumulative_idle_expiry",
         Duration(&l.cumulative_idle_expiry, std::chrono::minutes(1), std::chrono::hours(24),
                  "how long a cumulative profile nobody asks for is kept")},
    };
  }

  std::vector<Field> HeapFields() {
    DaemonConfig::Heap& h = config_.heap;
    return {
        {"sample_rate", ByteSize(&h.sample_rate, 1, uint64_t{1} << 40,
                                 "the mean bytes allocated between samples")},
        {"max_overhead_percent",
         [this, &h](const Value& value) {
           const std::string allowed =
               "expected the allocator probes' budget in percent of the target's CPU time, a "
               "number more than 0 and at most 100";
           std::string text;
           if (!Scalar(value, allowed, &text)) return;
           double parsed = 0;
           const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
           if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(parsed)) {
             Error(value, Quote(text) + " is not a number; " + allowed);
             return;
           }
           if (!(parsed > 0 && parsed <= 100)) {
             Error(value, text + " is out of range; " + allowed);
             return;
           }
           h.max_overhead_percent = parsed;
         }},
    };
  }

  std::vector<Field> BlockFields() {
    return {
        {"min_block", Duration(&config_.block.min_block, nanoseconds(0), std::chrono::seconds(60),
                               "the shortest wait counted")},
    };
  }

  std::vector<Field> SecurityFields() {
    return {
        {"admin_group", String(&config_.security.admin_group,
                               [this](const Value& value, const std::string& text) {
                                 group entry;
                                 group* found = nullptr;
                                 std::vector<char> buffer(1 << 16);
                                 if (text.empty() ||
                                     (getgrnam_r(text.c_str(), &entry, buffer.data(), buffer.size(),
                                                 &found) == 0 &&
                                      found)) {
                                   return true;
                                 }
                                 Error(value, "there is no group named " + Quote(text) +
                                                  "; expected a group's name, or \"\" for none");
                                 return false;
                               })},
        {"kernel_frames", String(&config_.security.kernel_frames,
                                 [this](const Value& value, const std::string& text) {
                                   if (text == "names" || text == "none") return true;
                                   Error(value, Quote(text) +
                                                    " is not a kernel_frames mode; expected names "
                                                    "(kernel functions by name, no addresses) or "
                                                    "none (no kernel frames)");
                                   return false;
                                 })},
    };
  }

  // The mark of the first of `keys` given in the file (all checks below have one given).
  std::pair<std::string, YAML::Mark> FirstGiven(std::initializer_list<std::string> keys) {
    for (const std::string& key : keys)
      if (auto it = key_marks_.find(key); it != key_marks_.end()) return *it;
    return {*keys.begin(), YAML::Mark::null_mark()};
  }

  void CheckAcrossKeys() {
    const DaemonConfig& c = config_;
    if (c.schedule.cpu_seconds > c.schedule.interval) {
      const auto [key, mark] = FirstGiven({"schedule.cpu_seconds", "schedule.interval"});
      Error(mark, key,
            "schedule.cpu_seconds (" + FormatDuration(c.schedule.cpu_seconds) +
                ") is longer than schedule.interval (" + FormatDuration(c.schedule.interval) +
                "); the window must fit in the interval");
    }
    ListenAddress address;
    std::string ignored;
    if (!c.listen.empty() && ParseListenAddress(c.listen, &address, &ignored) &&
        !address.loopback && c.token_file.empty()) {
      const auto [key, mark] = FirstGiven({"listen", "token_file"});
      Error(mark, key,
            "listen " + Quote(c.listen) +
                " accepts connections from other hosts, so token_file must name a file holding "
                "the bearer token clients send; or listen on loopback (127.0.0.1:PORT, "
                "[::1]:PORT)");
    }
    const DaemonConfig::Targets& t = c.targets;
    std::vector<std::string> lists;
    if (!t.pids.empty()) lists.push_back("targets.pids");
    if (!t.process_names.empty()) lists.push_back("targets.process_names");
    if (!t.cgroups.empty()) lists.push_back("targets.cgroups");
    if (!all_given_) {
      config_.targets.all = lists.empty();
    } else if (t.all && !lists.empty()) {
      Error(key_marks_["targets.all"], "targets.all",
            "true selects every process, but " + Join(lists, " and ") +
                (lists.size() == 1 ? " is" : " are") +
                " given too; set all: false to profile only the listed targets, or remove " +
                (lists.size() == 1 ? "the list" : "the lists"));
    } else if (!t.all && lists.empty() && !c.schedule.types.empty()) {
      Error(key_marks_["targets.all"], "targets.all",
            "false, and no targets.pids, targets.process_names or targets.cgroups are given: the "
            "schedule has nothing to profile; list targets, set all: true, or turn the schedule "
            "off with schedule.types: []");
    }
  }

  std::string source_;
  const std::vector<KnownProfileType>& types_;
  DaemonConfig& config_;
  std::vector<std::string> errors_;
  std::map<std::string, YAML::Mark> key_marks_;  // dotted key -> where it is, for cross-key checks
  bool all_given_ = false;
};

}  // namespace

bool ParseDaemonConfig(const std::string& yaml_text, const std::string& source_name,
                       const std::vector<KnownProfileType>& types, DaemonConfig* config,
                       std::string* error) {
  DaemonConfig parsed;
  ConfigReader reader(source_name, types, &parsed);
  reader.Read(yaml_text);
  const std::vector<std::string>& errors = reader.errors();
  if (errors.empty()) {
    *config = std::move(parsed);
    return true;
  }
  error->clear();
  for (size_t i = 0; i < errors.size() && i < kMaxErrors; ++i)
    *error += (i ? "\n" : "") + errors[i];
  if (errors.size() > kMaxErrors)
    *error += "\n" + source_name + ": and more problems (only the first " +
              std::to_string(kMaxErrors) + " are shown)";
  return false;
}

bool LoadDaemonConfig(const std::string& path, const std::vector<KnownProfileType>& types,
                      DaemonConfig* config, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": cannot open the configuration: " + std::strerror(errno);
    return false;
  }
  std::string text;
  char buffer[16384];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0 && text.size() <= kMaxFileBytes)
    text.append(buffer, static_cast<size_t>(n));
  const int read_errno = errno;
  ::close(fd);
  if (n < 0) {
    *error = path + ": cannot read the configuration: " + std::strerror(read_errno);
    return false;
  }
  if (text.size() > kMaxFileBytes) {
    *error = path + ": larger than " + FormatByteSize(kMaxFileBytes) +
             "; is this the configuration file?";
    return false;
  }
  return ParseDaemonConfig(text, path, types, config, error);
}

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
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

bool ProcessNameMatches(const std::string& pattern, const std::string& comm,
                        const std::string& exe_path) {
  if (::fnmatch(pattern.c_str(), comm.c_str(), 0) == 0) return true;
  const std::string exe_name = exe_path.substr(exe_path.rfind('/') + 1);
  return !exe_name.empty() && ::fnmatch(pattern.c_str(), exe_name.c_str(), 0) == 0;
}

}  // namespace profd
