"""A live dev node fed malformed and random requests on every public interface answers each with a proper
error and keeps running.

- gRPC: every method of ChainService, MarketService and BlobService gets random bytes as its request (not
  a valid protobuf, or a valid one of random fields) and requests built from the method's own message type
  with random field values. Every call must end with a status code other than UNKNOWN (which is what an
  exception escaping a servicer turns into).
- JSON-RPC over HTTP: random bytes, random JSON, and every method the node lists called with random params.
  Every answer must be JSON-RPC 2.0 with a result or an error object; no HTTP 5xx, and no -32603 internal
  error (an exception the handler did not expect).
- JSON-RPC over WebSocket: the same messages as text and binary frames on one connection.
Afterwards the node still answers and still finalizes blocks. Inputs come from seeded generators (bounded).
"""

import json
import random
import string
import time
import urllib.error
import urllib.request

import grpc
import pytest

from chain.client import NodeClient
from proto import blob_pb2, chain_pb2, market_pb2
from tests.integration.harness import Network

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICES = [
    chain_pb2.DESCRIPTOR.services_by_name["ChainService"],
    market_pb2.DESCRIPTOR.services_by_name["MarketService"],
    blob_pb2.DESCRIPTOR.services_by_name["BlobService"],
]
MODULES = {"chain": chain_pb2, "market": market_pb2, "blob": blob_pb2}
GRPC_CASES_PER_METHOD = 16
RPC_CASES = 300


def random_bytes(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 2, 8, 32, 33, 64, 200])))


def random_value(rng: random.Random, field, depth: int):
    from google.protobuf.descriptor import FieldDescriptor as F

    t = field.type
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return rng.choice([0, 1, 2, 7, 2**32, 2**63 - 1, 2**64 - 1, rng.randrange(2**64)])
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return rng.choice([0, 1, 2**31, 2**32 - 1, rng.randrange(2**32)])
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randrange(-(2**63), 2**63)])
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32, F.TYPE_ENUM):
        return (
            rng.choice([0, 1, -1, 2**31 - 1, -(2**31)])
            if t != F.TYPE_ENUM
            else rng.choice([v.number for v in field.enum_type.values])
        )
    if t == F.TYPE_BOOL:
        return rng.random() < 0.5
    if t in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return rng.choice([0.0, -1.0, 1e308, float("nan"), float("inf")])
    if t == F.TYPE_STRING:
        return rng.choice(
            [
                "",
                "0x",
                "0x" + "ff" * 32,
                "0x" + "zz",
                "5" * 48,
                "\u0000\ud7ff",
                "//Alice",
                "".join(rng.choice(string.printable) for _ in range(rng.randrange(80))),
            ]
        )
    if t == F.TYPE_BYTES:
        return random_bytes(rng)
    return None  # messages are filled by fill()


def fill(message, rng: random.Random, depth: int = 0):
    from google.protobuf.descriptor import FieldDescriptor as F

    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.3:
            continue
        repeated = field.is_repeated
        if field.type == F.TYPE_MESSAGE:
            if depth >= 2:
                continue
            if repeated:
                for _ in range(rng.randrange(3)):
                    fill(getattr(message, field.name).add(), rng, depth + 1)
            else:
                fill(getattr(message, field.name), rng, depth + 1)
        elif repeated:
            getattr(message, field.name).extend(
                random_value(rng, field, depth) for _ in range(rng.randrange(3))
            )
        else:
            setattr(message, field.name, random_value(rng, field, depth))
    return message


def message_class(descriptor):
    module = MODULES[descriptor.file.package] if descriptor.file.package in MODULES else None
    if module is None:
        module = next(m for m in MODULES.values() if m.DESCRIPTOR.name == descriptor.file.name)
    return getattr(module, descriptor.name)


def grpc_call(channel, service, method, payload: bytes) -> tuple[grpc.StatusCode, str]:
    path = f"/{service.full_name}/{method.name}"
    try:
        if method.client_streaming:
            channel.stream_unary(path)(iter([payload, payload]), timeout=2.0)
        elif method.server_streaming:
            for i, _ in enumerate(channel.unary_stream(path)(payload, timeout=0.4)):
                if i >= 2:
                    break
        else:
            channel.unary_unary(path)(payload, timeout=2.0)
    except grpc.RpcError as e:
        return e.code(), e.details() or ""
    return grpc.StatusCode.OK, ""


def test_grpc_json_rpc_and_websocket_fuzz_get_proper_errors_and_node_survives(tmp_path):
    rng = random.Random(4242)
    with Network(tmp_path, chain="dev") as net:
        node = net.nodes[0]
        net.wait_height([node], 2, timeout=60)

        # gRPC
        codes: dict[str, int] = {}
        unknown: list[str] = []
        with grpc.insecure_channel(node.grpc_addr) as channel:
            for service in SERVICES:
                for method in service.methods:
                    request_type = message_class(method.input_type)
                    for case in range(GRPC_CASES_PER_METHOD):
                        payload = (
                            random_bytes(rng) if case % 2 else fill(request_type(), rng).SerializeToString()
                        )
                        code, details = grpc_call(channel, service, method, payload)
                        codes[code.name] = codes.get(code.name, 0) + 1
                        # Undecodable protobuf is INVALID_ARGUMENT (chain.api.safe_handlers); UNKNOWN is a bug.
                        if code == grpc.StatusCode.UNKNOWN:
                            unknown.append(f"{method.full_name} <- {payload[:80].hex()}: {details}")
        assert not unknown, f"unhandled servicer exceptions ({codes}):\n" + "\n".join(unknown[:20])

        # JSON-RPC over HTTP
        url = f"http://127.0.0.1:{node.rpc}/"
        methods = http_json(url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "rpc_methods"}).encode())[1]
        names = methods["result"]["methods"]
        bad: list[str] = []
        for case in range(RPC_CASES):
            body = rpc_input(rng, names, case)
            status, answer = http_json(url, body)
            problem = check_answer(status, answer)
            if problem:
                bad.append(f"{problem}: {body[:200]!r} -> {str(answer)[:200]}")
        assert not bad, "\n".join(bad[:20])

        # JSON-RPC over WebSocket
        bad = websocket_fuzz(f"ws://127.0.0.1:{node.rpc}", rng, names)
        assert not bad, "\n".join(bad[:20])

        # Still alive, still finalizing.
        with NodeClient(node.grpc_addr) as c:
            before = c.info().finalized_number
        net.wait_height([node], before + 2, timeout=60)
        assert node.proc.poll() is None


def json_garbage(rng: random.Random, depth: int = 0):
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 5:
        return [json_garbage(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 6:
        return {
            rng.choice(["id", "jsonrpc", "method", "params", "x"]): json_garbage(rng, depth + 1)
            for _ in range(rng.randrange(5))
        }
    if choice == 7:
        return "0x" + random_bytes(rng).hex()
    return [
        None,
        True,
        rng.randrange(-(2**70), 2**70),
        rng.random() * 1e9,
        "".join(rng.choice(string.printable) for _ in range(rng.randrange(20))),
    ][choice]


def rpc_input(rng: random.Random, names: list[str], case: int) -> bytes:
    kind = case % 5
    if kind == 0:
        return random_bytes(rng)
    if kind == 1:
        return json.dumps(json_garbage(rng)).encode()
    method = rng.choice(names)
    params = [json_garbage(rng) for _ in range(rng.randrange(4))] if kind != 4 else json_garbage(rng)
    request = {"jsonrpc": "2.0", "id": case, "method": method, "params": params}
    if kind == 3:
        return json.dumps([request, {"jsonrpc": "2.0", "id": "x", "method": rng.choice(names)}]).encode()
    return json.dumps(request).encode()


def http_json(url: str, body: bytes) -> tuple[int, object]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text


def check_answer(status: int, answer) -> str | None:
    if status >= 500:
        return f"HTTP {status}"
    if answer is None:
        return None  # a batch of notifications only: nothing to answer
    answers = answer if isinstance(answer, list) else [answer]
    for a in answers:
        if not isinstance(a, dict) or a.get("jsonrpc") != "2.0" or ("result" in a) == ("error" in a):
            return "not a JSON-RPC 2.0 response"
        if "error" in a:
            err = a["error"]
            if not isinstance(err, dict) or not isinstance(err.get("code"), int):
                return "malformed error object"
            if err["code"] == -32603:
                return "internal error"
    return None


def websocket_fuzz(url: str, rng: random.Random, names: list[str]) -> list[str]:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    bad: list[str] = []
    deadline = time.monotonic() + 60
    cases = iter(range(RPC_CASES // 2))
    while time.monotonic() <= deadline:
        with connect(url, open_timeout=10) as ws:  # a new connection after the node closed one
            for case in cases:
                if time.monotonic() > deadline:
                    return bad
                body = rpc_input(rng, [n for n in names if "subscribe" not in n.lower()], case)
                binary = case % 7 == 0
                try:
                    ws.send(body if binary else body.decode("utf-8", errors="replace"))
                    if body == b"" and not binary:
                        continue
                    answer = json.loads(ws.recv(timeout=10))
                except ConnectionClosed:
                    break  # closing on a bad frame is a proper answer
                except TimeoutError:
                    bad.append(f"no answer to {body[:200]!r}")
                    continue
                problem = check_answer(200, answer)
                if problem:
                    bad.append(f"{problem}: {body[:200]!r} -> {str(answer)[:200]}")
            else:
                return bad
    return bad


def test_malformed_protobuf_request_gets_invalid_argument(tmp_path):
    with Network(tmp_path, chain="dev") as net:
        node = net.nodes[0]
        with NodeClient(node.grpc_addr) as c:
            c.wait_ready(60)
        with grpc.insecure_channel(node.grpc_addr) as channel:
            code, details = grpc_call(
                channel, SERVICES[0], SERVICES[0].methods_by_name["GetBlock"], b"\xff\xff"
            )
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
