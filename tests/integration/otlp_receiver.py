"""A receiver of OpenTelemetry's profiles signal over OTLP/HTTP (POST /v1development/profiles, an
ExportProfilesServiceRequest of opentelemetry-proto v1.11.0 in binary protobuf), strict where a
collector is and stricter where profd must be: no OpenTelemetry Collector is installable here.

The body is decoded by `protoc --decode` with profd's own proto/otlp/*.proto (python3-protobuf is
not installed), so malformed protobuf, a wire type that does not match a field, and strings that
are not UTF-8 are refused as the collector's decoder refuses them; unknown fields, which a
collector skips, are refused too (profd should send none). As the collector's otlp receiver it
answers 405 to anything but POST, 415 to a Content-Type other than application/x-protobuf
(profd never sends JSON), 400 to a body that does not decode or a Content-Encoding it cannot
undo (gzip, or none), and 404 to another path. Beyond the collector it refuses (400) what the
proto's rules forbid or profd must not send: a dictionary table whose entry 0 is not the zero
value, an index out of its table, a sample without values or a location 0 in a stack, repeated
attribute keys, original_payload without its format, a profile_id that is not 16 bytes or all
zero, no resource or no service.name, and a request without samples (a collector answers 200
and drops it unread). Errors carry a google.rpc.Status, as the collector's do.

`plan` lists answers to give first: 400, 429 (Retry-After: 1), 500, 503, "hang", or "partial"
(200 with partial_success: rejected_profiles 1). Accepted requests are kept decoded; to_pprof()
turns one of their profiles back into a gzipped pprof profile (via `protoc --encode` with
profd's proto/profile.proto) for `go tool pprof`."""
import codecs
import gzip
import http.server
import os
import re
import subprocess
import time

from loopback_receiver import LoopbackReceiver

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
REQUEST = "opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest"
FIELD_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
TABLES = ("mapping_table", "location_table", "function_table", "link_table", "string_table",
          "attribute_table", "stack_table")


def protoc(mode, message, proto, data):
    out = subprocess.run(["protoc", "-I", PROTO_DIR, "--%s=%s" % (mode, message), proto],
                         input=data, capture_output=True, timeout=60)
    if out.returncode != 0:
        raise ValueError("protoc --%s: %s" % (mode, out.stderr.decode(errors="replace").strip()))
    return out.stdout


def parse_text_format(text):
    """protoc's text format as {field: [values]} (a message is a dict, a string is bytes); an
    unknown field (printed by number) raises."""
    root = {}
    stack = [root]
    for line in text.decode("latin-1").splitlines():  # bytes as they are: strings come escaped
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            continue
        if line.endswith(" {"):
            name, value = line[:-2], {}
        else:
            name, _, raw = line.partition(": ")
            if raw.startswith('"'):
                value = codecs.escape_decode(raw[1:-1].encode("latin-1"))[0]
            elif raw in ("true", "false"):
                value = raw == "true"
            else:
                value = float(raw) if "." in raw or "e" in raw else int(raw)
        if not FIELD_NAME.match(name):
            raise ValueError("unknown field %s" % name)
        stack[-1].setdefault(name, []).append(value)
        if isinstance(value, dict):
            stack.append(value)
    return root


def one(message, field, default=None):
    values = message.get(field, [])
    if len(values) > 1:
        raise ValueError("%s repeats" % field)
    return values[0] if values else default


def any_value(value):
    """An AnyValue as a Python value (str, int, bool, float, list)."""
    if "string_value" in value:
        return one(value, "string_value").decode("utf-8")
    if "array_value" in value:
        return [any_value(v) for v in one(value, "array_value").get("values", [])]
    for field in ("int_value", "bool_value", "double_value"):
        if field in value:
            return one(value, field)
    raise ValueError("an attribute value profd does not send: %r" % value)


class Request:
    """A decoded, checked ExportProfilesServiceRequest."""

    def __init__(self, body):
        self.message = parse_text_format(protoc("decode", REQUEST,
                                                "otlp/profiles_service.proto", body))
        self.dictionary = one(self.message, "dictionary", {})
        d = self.dictionary
        self.strings = [s.decode("utf-8") for s in d.get("string_table", [])]
        for table in TABLES:
            entries = d.get(table, [])
            if not entries:
                raise ValueError("%s has no entry 0" % table)
            zero = entries[0]
            if table == "string_table" and zero != b"":
                raise ValueError("string_table[0] is not \"\"")
            if table == "link_table":
                if zero not in ({}, {"trace_id": [b"\0" * 16], "span_id": [b"\0" * 8]}):
                    raise ValueError("link_table[0] is not the zero link")
            elif table != "string_table" and zero != {}:
                raise ValueError("%s[0] is not the zero value: %r" % (table, zero))
        self.resources = []  # ({attribute: value}, [profile dict]) per ResourceProfiles
        samples = 0
        for resource_profiles in self.message.get("resource_profiles", []):
            resource = one(resource_profiles, "resource")
            if resource is None:
                raise ValueError("a ResourceProfiles without a resource")
            attributes = {}
            for kv in resource.get("attributes", []):
                key = one(kv, "key", b"").decode("utf-8")
                if not key or key in attributes:
                    raise ValueError("resource attribute %r empty or repeated" % key)
                attributes[key] = any_value(one(kv, "value", {}))
            if not attributes.get("service.name"):
                raise ValueError("no service.name")
            profiles = []
            for scope in resource_profiles.get("scope_profiles", []):
                for profile in scope.get("profiles", []):
                    samples += self.check_profile(profile)
                    profiles.append(profile)
            self.resources.append((attributes, profiles, resource_profiles))
        if samples == 0:
            raise ValueError("no samples (a collector drops such a request)")
        for location in d.get("location_table", [])[1:]:
            self.index("mapping_table", one(location, "mapping_index", 0), allow_zero=True)
            for line in location.get("lines", []):
                self.index("function_table", one(line, "function_index", 0))
            self.attributes(location.get("attribute_indices", []))
        for mapping in d.get("mapping_table", [])[1:]:
            self.string(one(mapping, "filename_strindex", 0))
            self.attributes(mapping.get("attribute_indices", []))
        for function in d.get("function_table", [])[1:]:
            for field in ("name_strindex", "system_name_strindex", "filename_strindex"):
                self.string(one(function, field, 0))
        for stack in d.get("stack_table", [])[1:]:
            for i in stack.get("location_indices", []):
                self.index("location_table", i)

    def index(self, table, i, allow_zero=False):
        if not (0 if allow_zero else 1) <= i < len(self.dictionary.get(table, [])):
            raise ValueError("%s index %d out of range" % (table, i))
        return self.dictionary[table][i]

    def string(self, i):
        if not 0 <= i < len(self.strings):
            raise ValueError("string index %d out of range" % i)
        return self.strings[i]

    def attributes(self, indices):
        """{key: (value, unit)} of attribute_indices; keys must not repeat."""
        out = {}
        for i in indices:
            attribute = self.index("attribute_table", i)
            key = self.string(one(attribute, "key_strindex", 0))
            if not key or key in out:
                raise ValueError("attribute key %r empty or repeated" % key)
            out[key] = (any_value(one(attribute, "value", {})),
                        self.string(one(attribute, "unit_strindex", 0)))
        return out

    def value_type(self, value_type):
        return (self.string(one(value_type or {}, "type_strindex", 0)),
                self.string(one(value_type or {}, "unit_strindex", 0)))

    def check_profile(self, profile):
        if self.value_type(one(profile, "sample_type"))[0] == "":
            raise ValueError("a profile without a sample type")
        if bool(one(profile, "original_payload")) != bool(one(profile, "original_payload_format")):
            raise ValueError("original_payload and its format go together")
        profile_id = one(profile, "profile_id")
        if profile_id is not None and (len(profile_id) != 16 or profile_id == b"\0" * 16):
            raise ValueError("profile_id is not 16 bytes, or all zero")
        self.attributes(profile.get("attribute_indices", []))
        for sample in profile.get("samples", []):
            values = sample.get("values", [])
            timestamps = sample.get("timestamps_unix_nano", [])
            if not values and not timestamps or values and timestamps and \
                    len(values) != len(timestamps):
                raise ValueError("a sample's values and timestamps do not match")
            self.index("stack_table", one(sample, "stack_index", 0))
            self.index("link_table", one(sample, "link_index", 0), allow_zero=True)
            self.attributes(sample.get("attribute_indices", []))
        return len(profile.get("samples", []))

    def to_pprof(self, profile):
        """One OTLP profile as a gzipped pprof profile of its one sample type."""
        d = self.dictionary
        strings = list(self.strings)
        interned = {s: i for i, s in reversed(list(enumerate(strings)))}

        def intern(s):
            if s not in interned:
                interned[s] = len(strings)
                strings.append(s)
            return interned[s]

        def value_type(name, vt):
            t, u = self.value_type(vt)
            return "%s { type: %d unit: %d }" % (name, intern(t), intern(u))

        out = [value_type("sample_type", one(profile, "sample_type")),
               value_type("period_type", one(profile, "period_type")),
               "period: %d" % one(profile, "period", 0),
               "time_nanos: %d" % one(profile, "time_unix_nano", 0),
               "duration_nanos: %d" % one(profile, "duration_nano", 0)]
        for sample in profile.get("samples", []):
            stack = self.index("stack_table", one(sample, "stack_index", 0))
            labels = ""
            for key, (value, unit) in self.attributes(sample.get("attribute_indices", [])).items():
                if isinstance(value, str):
                    labels += " label { key: %d str: %d }" % (intern(key), intern(value))
                else:
                    labels += " label { key: %d num: %d num_unit: %d }" % (
                        intern(key), value, intern(unit))
            out.append("sample { %s value: %d%s }" % (
                " ".join("location_id: %d" % i for i in stack.get("location_indices", [])),
                sum(sample.get("values", [])) or len(sample.get("timestamps_unix_nano", [])),
                labels))
        for i, mapping in enumerate(d["mapping_table"][1:], 1):
            attributes = self.attributes(mapping.get("attribute_indices", []))
            build_id = attributes.get("process.executable.build_id.gnu", ("", ""))[0]
            out.append("mapping { id: %d memory_start: %d memory_limit: %d file_offset: %d "
                       "filename: %d build_id: %d has_functions: %s }" % (
                           i, one(mapping, "memory_start", 0), one(mapping, "memory_limit", 0),
                           one(mapping, "file_offset", 0), one(mapping, "filename_strindex", 0),
                           intern(build_id),
                           "true" if "pprof.mapping.has_functions" in attributes else "false"))
        for i, location in enumerate(d["location_table"][1:], 1):
            lines = "".join(" line { function_id: %d line: %d column: %d }" % (
                one(line, "function_index", 0), one(line, "line", 0), one(line, "column", 0))
                for line in location.get("lines", []))
            out.append("location { id: %d mapping_id: %d address: %d%s }" % (
                i, one(location, "mapping_index", 0), one(location, "address", 0), lines))
        for i, function in enumerate(d["function_table"][1:], 1):
            out.append("function { id: %d name: %d system_name: %d filename: %d start_line: %d }"
                       % (i, one(function, "name_strindex", 0),
                          one(function, "system_name_strindex", 0),
                          one(function, "filename_strindex", 0), one(function, "start_line", 0)))
        for s in strings:
            escaped = "".join(chr(b) if 0x20 <= b < 0x7f and b not in (0x22, 0x5c)
                              else "\\%03o" % b for b in s.encode("utf-8"))
            out.append('string_table: "%s"' % escaped)
        return gzip.compress(protoc("encode", "perftools.profiles.Profile", "profile.proto",
                                    "\n".join(out).encode()))


class Receiver(LoopbackReceiver):
    def __init__(self, port=0, plan=()):
        super().__init__(plan)  # pushes: (headers dict, Request) of each accepted request
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body=b"", headers=(), content_type="application/x-protobuf"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def error(self, status, message, headers=()):
                # google.rpc.Status{code, message}: gRPC's code for the HTTP status.
                code = {400: 3, 404: 12, 429: 8, 500: 13, 503: 14}.get(status, 2)
                body = protoc("encode", "google.rpc.Status", "otlp/status.proto",
                              ('code: %d message: "%s"' % (code, message.replace('"', "'")))
                              .encode())
                self.answer(status, body, headers)

            def refuse(self, status, why):
                receiver.refused(why)
                if status == 415:
                    return self.answer(415, b"415 unsupported media type", (), "text/plain")
                self.error(status, why)

            def do_GET(self):
                self.answer(405, b"405 method not allowed, supported: [POST]", (), "text/plain")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                planned = receiver.next_planned()
                if planned == "hang":
                    time.sleep(30)
                    return
                if planned == 429:
                    return self.error(429, "slow down", [("Retry-After", "1")])
                if planned in (400, 500, 503):
                    return self.error(planned, "planned %d" % planned)
                if self.path != "/v1development/profiles":
                    return self.refuse(404, "no such path " + self.path)
                media_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                if media_type != "application/x-protobuf":
                    return self.refuse(415, "content type %r" % media_type)
                encoding = self.headers.get("Content-Encoding", "")
                try:
                    if encoding == "gzip":
                        body = gzip.decompress(body)
                    elif encoding:
                        raise ValueError("unsupported Content-Encoding %r" % encoding)
                    request = Request(body)
                except (ValueError, OSError, EOFError, UnicodeDecodeError) as e:
                    return self.refuse(400, str(e))
                with receiver.lock:
                    receiver.pushes.append((dict(self.headers), request))
                if planned == "partial":
                    return self.answer(200, protoc(
                        "encode", REQUEST.replace("Request", "Response"),
                        "otlp/profiles_service.proto",
                        b'partial_success { rejected_profiles: 1 error_message: "one too many" }'))
                self.answer(200)  # an empty ExportProfilesServiceResponse

        self.serve(Handler, port)
