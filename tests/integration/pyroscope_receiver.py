"""A receiver of Grafana Pyroscope's push API (POST /push.v1.PusherService/Push, the Connect
protocol's unary call with a binary protobuf body), written from its published .proto field numbers
and Pyroscope's label rules, strict where the real server is: no Pyroscope is installable here.

It refuses (400, a Connect error) a request that is not POST, not application/proto, without
Connect-Protocol-Version 1, that does not decode as PushRequest{series: [RawProfileSeries{labels:
[LabelPair{name, value}], samples: [RawSample{raw_profile, id}]}]}, whose label names are not
Prometheus names ([a-zA-Z_][a-zA-Z0-9_]*), repeat, or lack __name__ and service_name, whose values
are over 2048 bytes or not UTF-8, or whose profile is not gzip. `plan` is a list of answers to give
first (500, 429, 401, "hang"; "hold": keep the request open until `release` is set, note its ids
in `held`, then answer 503, so a client that is still there retries); then it accepts.

It also takes Parca's WriteRaw through Parca's HTTP gateway (POST /api/profiles/writeraw, JSON:
{"series": [{"labels": {"labels": [{"name", "value"}]}, "samples": [{"raw_profile": base64}]}],
"normalized": bool}), as strictly: unknown keys, bad base64, a profile that is not gzip, label
names that are not Prometheus names, or no __name__ are refused.

And Pyroscope's HTTP ingest (POST /ingest?name=APP{k=v,...}&from=UNIX&until=UNIX&format=pprof),
parsed as its server parses it (api/model/labelset: the application name of [A-Za-z0-9_./-], label
names of [A-Za-z0-9_.], a value ends at ',' or '}', spaces trimmed; pkg/og/convert/pprof: the body
is the pprof, gzipped or not, or with no format a multipart form's field `profile`;
service_name is the whole application name, __name__ from the profile's sample types, __delta__
false, pyroscope_spy the spyName or "unknown", and the labels in braces but those starting with
__). Stricter than the server: unknown query parameters, a label given twice, __name__ or
service_name in braces (the server would let it replace or repeat one), text after '}', a
missing or non-integer from/until, from after until, or a profile that is not pprof are refused.
The windows taken are in `windows` as (from, until)."""
import base64
import email.parser
import gzip
import http.server
import json
import re
import threading
import time
import urllib.parse

from loopback_receiver import LoopbackReceiver

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("cut varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf, allowed):
    """(number, bytes) of each length-delimited field; `allowed` are the numbers the message has."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if number not in allowed or wire != 2:
            raise ValueError("unexpected field %d (wire type %d)" % (number, wire))
        size, i = varint(buf, i)
        if i + size > len(buf):
            raise ValueError("field %d runs past the message" % number)
        yield number, buf[i:i + size]
        i += size


def decode_push(body):
    """[(labels dict, [(id, profile bytes)])] of a PushRequest."""
    out = []
    for _, series in fields(body, {1}):
        labels, samples = {}, []
        for number, value in fields(series, {1, 2}):
            if number == 1:
                pair = dict(fields(value, {1, 2}))
                name = pair.get(1, b"").decode("utf-8")
                text = pair.get(2, b"").decode("utf-8")
                if not LABEL_NAME.match(name):
                    raise ValueError("invalid label name %r" % name)
                if name in labels:
                    raise ValueError("label %s repeats" % name)
                if len(text) > 2048:
                    raise ValueError("label %s's value is over 2048 bytes" % name)
                labels[name] = text
            else:
                sample = dict(fields(value, {1, 2}))
                samples.append((sample.get(2, b"").decode("utf-8"), sample.get(1, b"")))
        for required in ("__name__", "service_name"):
            if not labels.get(required):
                raise ValueError("no %s label" % required)
        if len(labels) > 30:
            raise ValueError("more than 30 labels")
        for _, profile in samples:
            gzip.decompress(profile)  # raises for anything but gzip
        out.append((labels, samples))
    return out


def encode_push(labels, profile, sample_id):
    """A PushRequest of one series (the spool's body for kind pyroscope), for tests to plant."""
    def field(number, data):
        out, size = bytes([number << 3 | 2]), len(data)
        while size > 0x7F:
            out += bytes([size & 0x7F | 0x80])
            size >>= 7
        return out + bytes([size]) + data
    pairs = b"".join(field(1, field(1, k.encode()) + field(2, v.encode()))
                     for k, v in labels.items())
    sample = field(2, field(1, profile) + field(2, sample_id.encode()))
    return field(1, pairs + sample)


def decode_writeraw(body):
    """[(labels dict, [("", profile bytes)])] of Parca's WriteRawRequest in JSON."""
    request = json.loads(body)
    if not isinstance(request, dict) or set(request) - {"series", "normalized"}:
        raise ValueError("unexpected keys %r" % request)
    out = []
    for series in request.get("series", []):
        if set(series) - {"labels", "samples"} or set(series.get("labels", {})) - {"labels"}:
            raise ValueError("unexpected keys in a series")
        labels = {}
        for label in series["labels"]["labels"]:
            if set(label) != {"name", "value"}:
                raise ValueError("a label is {name, value}")
            if not LABEL_NAME.match(label["name"]) or label["name"] in labels:
                raise ValueError("invalid or repeated label name %r" % label["name"])
            labels[label["name"]] = label["value"]
        if not labels.get("__name__"):
            raise ValueError("no __name__ label")
        samples = []
        for sample in series.get("samples", []):
            if set(sample) - {"raw_profile", "executable_info"}:
                raise ValueError("unexpected keys in a sample")
            profile = base64.b64decode(sample["raw_profile"], validate=True)
            gzip.decompress(profile)
            samples.append(("", profile))
        out.append((labels, samples))
    return out


def decode_message(buf):
    """{number: [value]} of a protobuf message: ints for varints, bytes for the rest."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 2:
            size, i = varint(buf, i)
            if i + size > len(buf):
                raise ValueError("field %d runs past the message" % number)
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError("unexpected wire type %d in a pprof profile" % wire)
        out.setdefault(number, []).append(value)
    return out


def pyroscope_metric_name(pprof_bytes):
    """__name__ as Pyroscope gives an ingested pprof profile (by its sample types)."""
    if pprof_bytes[:2] == b"\x1f\x8b":
        pprof_bytes = gzip.decompress(pprof_bytes)
    profile = decode_message(pprof_bytes)
    strings = [s.decode("utf-8") for s in profile.get(6, [])]
    types = [strings[decode_message(t).get(1, [0])[0]] for t in profile.get(1, [])]
    if not types:
        raise ValueError("a profile without sample types")
    if "wall" in types:
        return "wall"
    for st in types:
        for part, name in (("cpu", "process_cpu"), ("alloc_", "memory"), ("inuse_", "memory"),
                           ("mutex_", "mutex"), ("block_", "block"),
                           ("goroutines", "goroutines")):
            if part in st:
                return name
        if st in ("space", "objects"):
            return "memory"
    return types[-1]


def parse_ingest_name(name):
    """(application name, {label: value}) of /ingest's name, as labelset.Parse reads it."""
    app, brace, rest = name.partition("{")
    app = app.strip()
    if not app or not re.fullmatch(r"[A-Za-z0-9_./-]+", app):
        raise ValueError("invalid service name %r" % app)
    labels = {}
    if not brace:
        return app, labels
    if not rest.endswith("}") or "}" in rest[:-1]:
        raise ValueError("the label set does not end at its first '}': %r" % name)
    for pair in filter(None, rest[:-1].split(",")):
        key, equals, value = pair.partition("=")
        key = key.strip()
        if not equals or not re.fullmatch(r"[A-Za-z0-9_.]+", key):
            raise ValueError("invalid label %r" % pair)
        if key in labels or key in ("__name__", "service_name"):
            raise ValueError("label %s given twice or reserved" % key)
        labels[key] = value.strip()
    return app, labels


INGEST_PARAMETERS = {"name", "from", "until", "format", "sampleRate", "spyName", "units",
                     "aggregationType"}


def decode_ingest(query, content_type, body):
    """(labels as Pyroscope stores them, (from, until), profile bytes) of an /ingest request."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True, strict_parsing=True)
    if set(params) - INGEST_PARAMETERS or any(len(v) > 1 for v in params.values()):
        raise ValueError("unknown or repeated query parameters %r" % sorted(params))
    get = {k: v[0] for k, v in params.items()}
    app, braces = parse_ingest_name(get.get("name", ""))
    if not re.fullmatch(r"\d+", get.get("from", "")) or \
            not re.fullmatch(r"\d+", get.get("until", "")):
        raise ValueError("from and until are Unix seconds")
    window = (int(get["from"]), int(get["until"]))
    if window[0] > window[1] or abs(window[1] - time.time()) > 86400:
        raise ValueError("the window %r is not one of today's" % (window,))
    if get.get("format") == "pprof":
        profile = body  # the server reads it as it is, even a multipart form
    elif "multipart/form-data" in (content_type or "") and "format" not in get:
        message = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        parts = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                 for p in message.get_payload()}
        profile = parts.get("profile") or b""
    else:
        raise ValueError("format %r is not pprof" % get.get("format"))
    labels = {"__name__": pyroscope_metric_name(profile), "__delta__": "false",
              "service_name": app, "pyroscope_spy": get.get("spyName") or "unknown"}
    labels.update((k, v) for k, v in braces.items() if not k.startswith("__"))
    return labels, window, profile


class Receiver(LoopbackReceiver):
    def __init__(self, port=0, plan=()):
        # pushes: (headers dict, labels, id, profile bytes) of each accepted sample
        super().__init__(plan)
        self.windows = []
        self.held = []
        self.release = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, code="", message="", headers=()):
                body = json.dumps({"code": code, "message": message}).encode() if code else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if code else
                                 "application/proto")
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def answer_json(self, value):
                body = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.answer(405, "unimplemented", "POST only")

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                planned = receiver.next_planned()
                if planned == "hang":
                    time.sleep(30)
                    return
                if planned == "hold":
                    with receiver.lock:
                        receiver.held += [i for _, samples in decode_push(body)
                                          for i, _ in samples]
                    receiver.release.wait(120)
                    try:
                        return self.answer(503, "unavailable", "held, not taken")
                    except OSError:
                        return None  # its client is gone
                if planned == 429:
                    return self.answer(429, "unavailable", "slow down", [("Retry-After", "1")])
                if planned in (500, 503):
                    return self.answer(planned, "unavailable", "try again")
                if planned == 401:
                    return self.answer(401, "unauthenticated", "bad credentials")
                if self.path.startswith("/ingest?"):
                    return self.ingest(body)
                error = None
                parca = self.path == "/api/profiles/writeraw"
                if self.path != "/push.v1.PusherService/Push" and not parca:
                    return self.answer(404, "unimplemented", "no such procedure " + self.path)
                if parca:
                    try:
                        if self.headers.get("Content-Type") != "application/json":
                            raise ValueError("content type %r" % self.headers.get("Content-Type"))
                        series = decode_writeraw(body)
                    except (ValueError, KeyError, TypeError, OSError, EOFError) as e:
                        receiver.refused(str(e))
                        return self.answer(400, "invalid_argument", str(e))
                elif self.headers.get("Content-Type") != "application/proto":
                    error = "content type %r" % self.headers.get("Content-Type")
                elif self.headers.get("Connect-Protocol-Version") != "1":
                    error = "no Connect-Protocol-Version: 1"
                if not parca:
                    try:
                        series = decode_push(body) if not error else []
                    except (ValueError, UnicodeDecodeError, OSError, EOFError) as e:
                        error = str(e)
                if error:
                    receiver.refused(error)
                    return self.answer(400, "invalid_argument", error)
                with receiver.lock:
                    for labels, samples in series:
                        for sample_id, profile in samples:
                            receiver.pushes.append((dict(self.headers), labels, sample_id,
                                                    profile))
                if parca:
                    self.answer_json({})  # WriteRawResponse
                else:
                    self.answer(200)  # an empty PushResponse

            def ingest(self, body):
                try:
                    labels, window, profile = decode_ingest(
                        self.path.partition("?")[2], self.headers.get("Content-Type"), body)
                except (ValueError, KeyError, IndexError, UnicodeDecodeError, OSError,
                        EOFError) as e:
                    receiver.refused(str(e))
                    self.send_response(400)
                    self.send_header("Content-Length", str(len(str(e).encode())))
                    self.end_headers()
                    return self.wfile.write(str(e).encode())
                with receiver.lock:
                    receiver.pushes.append((dict(self.headers), labels, "", profile))
                    receiver.windows.append(window)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.serve(Handler, port)
