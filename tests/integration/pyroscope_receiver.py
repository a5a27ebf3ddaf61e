"""A receiver of Grafana Pyroscope's push API (POST /push.v1.PusherService/Push, the Connect
protocol's unary call with a binary protobuf body), written from its published .proto field numbers
and Pyroscope's label rules, strict where the real server is: no Pyroscope is installable here.

It refuses (400, a Connect error) a request that is not POST, not application/proto, without
Connect-Protocol-Version 1, that does not decode as PushRequest{series: [RawProfileSeries{labels:
[LabelPair{name, value}], samples: [RawSample{raw_profile, id}]}]}, whose label names are not
Prometheus names ([a-zA-Z_][a-zA-Z0-9_]*), repeat, or lack __name__ and service_name, whose values
are over 2048 bytes or not UTF-8, or whose profile is not gzip. `plan` is a list of answers to give
first (500, 429, 401, "hang"); then it accepts.

It also takes Parca's WriteRaw through Parca's HTTP gateway (POST /api/profiles/writeraw, JSON:
{"series": [{"labels": {"labels": [{"name", "value"}]}, "samples": [{"raw_profile": base64}]}],
"normalized": bool}), as strictly: unknown keys, bad base64, a profile that is not gzip, label
names that are not Prometheus names, or no __name__ are refused."""
import base64
import gzip
import http.server
import json
import re
import time

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


class Receiver(LoopbackReceiver):
    def __init__(self, port=0, plan=()):
        # pushes: (headers dict, labels, id, profile bytes) of each accepted sample
        super().__init__(plan)
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
                if planned == 429:
                    return self.answer(429, "unavailable", "slow down", [("Retry-After", "1")])
                if planned in (500, 503):
                    return self.answer(planned, "unavailable", "try again")
                if planned == 401:
                    return self.answer(401, "unauthenticated", "bad credentials")
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

        self.serve(Handler, port)
