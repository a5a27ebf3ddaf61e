#include "strict_yaml.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <sstream>

#include "units.h"
#include "utf8.h"

namespace profd {

using std::chrono::nanoseconds;

namespace {

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

}  // namespace

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

bool IsAbsolutePath(const std::string& path) { return !path.empty() && path[0] == '/'; }

bool StrictYamlReader::Load(const std::string& text, YAML::Node* document) {
  if (!CheckIsText(text)) return false;
  std::vector<YAML::Mark> starts;
  try {
    if (MayHoldSeveralDocuments(text)) starts = DocumentStarts(text);
    *document = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {  // its message is only "bad file"
    Error(e.mark, "",
          "lists or mappings nested " + std::to_string(e.depth()) +
              " deep, more than YAML is read to; the configuration nests at most 3 levels "
              "(section, key, list)");
    return false;
  } catch (const YAML::ParserException& e) {
    Error(e.mark, "", "YAML syntax error: " + e.msg + SyntaxHint(text, e));
    return false;
  } catch (const YAML::Exception& e) {
    Error(e.mark, "", std::string("cannot parse: ") + e.what());
    return false;
  }
  if (starts.size() > 1) {
    Error(starts[1], "",
          "a second YAML document (after ---); the configuration is a single document");
    return false;
  }
  return true;
}

bool StrictYamlReader::CheckIsText(const std::string& text) {
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

void StrictYamlReader::Error(const YAML::Mark& mark, const std::string& key,
                             const std::string& message) {
  // Past the first kMaxConfigErrors problems the rest are only counted as "more": a file of 100,000
  // unknown keys must not cost seconds and megabytes of messages nobody reads.
  if (errors_.size() > kMaxConfigErrors) return;
  std::string line = source_ + ":";
  if (!mark.is_null())
    line += std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ":";
  line += " ";
  if (!key.empty()) line += key + ": ";
  errors_.push_back(line + message);
}

void StrictYamlReader::Error(const Value& value, const std::string& message) {
  Error(value.Where(), value.key, message);
}

void StrictYamlReader::ReadMap(const Value& section, const std::vector<Field>& fields) {
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
    if (errors_.size() > kMaxConfigErrors) return;  // enough said
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

bool StrictYamlReader::Scalar(const Value& value, const std::string& allowed, std::string* text,
                              const std::string& hint_for_collection) {
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

StrictYamlReader::Reader StrictYamlReader::String(
    std::string* out, std::function<bool(const Value&, const std::string&)> check) {
  return [this, out, check = std::move(check)](const Value& value) {
    std::string text;
    // A flow list or mapping here is most likely an unquoted "[::1]:6061".
    if (Scalar(value, "expected a string", &text, " (quote a string that starts with [ or {)") &&
        (!check || check(value, text)))
      *out = text;
  };
}

StrictYamlReader::Reader StrictYamlReader::AbsolutePath(std::string* out, bool may_be_empty) {
  return String(out, [this, may_be_empty](const Value& value, const std::string& text) {
    if ((may_be_empty && text.empty()) || IsAbsolutePath(text)) return true;
    Error(value, Quote(text) + " is not an absolute path; expected a path starting with /" +
                     (may_be_empty ? " or \"\"" : ""));
    return false;
  });
}

bool StrictYamlReader::ParseInteger(const Value& value, long long min, long long max,
                                    const std::string& what, long long* out) {
  const std::string allowed = "expected " + what + ", a whole number from " + std::to_string(min) +
                              " to " + std::to_string(max);
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

StrictYamlReader::Reader StrictYamlReader::Integer(int* out, int min, int max,
                                                   const std::string& what) {
  return [=, this](const Value& value) {
    long long parsed;
    if (ParseInteger(value, min, max, what, &parsed)) *out = static_cast<int>(parsed);
  };
}

StrictYamlReader::Reader StrictYamlReader::Duration(nanoseconds* out, nanoseconds min,
                                                    nanoseconds max, const std::string& what) {
  return Ranged(out, min, max,
                "expected " + what + ", a duration from " + FormatDuration(min) + " to " +
                    FormatDuration(max) +
                    " (e.g. 30s, 500ms, 10us, 2m, 1h, 7d; a plain number is seconds)",
                &ParseDuration);
}

StrictYamlReader::Reader StrictYamlReader::ByteSize(uint64_t* out, uint64_t min, uint64_t max,
                                                    const std::string& what) {
  return Ranged(out, min, max,
                "expected " + what + ", a size from " + FormatByteSize(min) + " to " +
                    FormatByteSize(max) + " bytes (e.g. 4096, 512KiB, 100MB, 1GiB)",
                &ParseByteSize);
}

StrictYamlReader::Reader StrictYamlReader::Boolean(bool* out, bool* given) {
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

}  // namespace profd
