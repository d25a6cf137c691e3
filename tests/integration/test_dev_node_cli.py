"""A `--dev` node answers the CLI; bad arguments, busy ports and foreign or corrupt databases fail clearly."""

import json
import socket
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chain.primitives.crypto import dev_keypair
from tests.integration.harness import ROOT, Network, NodeProcess, free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chain.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def dev_node(tmp_path) -> NodeProcess:
    p2p, grpc, rpc = free_ports(3)
    return NodeProcess("dev", tmp_path / "dev", "dev", "//Alice", p2p, grpc, rpc)


def test_dev_node_produces_blocks_and_answers_cli(tmp_path):
    node = dev_node(tmp_path)
    net = Network.__new__(Network)
    net.nodes = [node]
    node.start()
    try:
        net.wait_height([node], 2, timeout=60)
        head = json.loads(cli("query", "head", "--node", node.grpc_addr).stdout)
        assert head["id"] == "dev" and head["best"] >= 2
        ferdie = dev_keypair("Ferdie").ss58()
        out = cli(
            "tx", "transfer", "--from", "//Alice", "--to", ferdie, "--amount", "2.5", "--node", node.grpc_addr
        )
        assert out.returncode == 0, out.stderr
        assert "finalized in block" in out.stdout
        account = json.loads(cli("query", "account", ferdie, "--json", "--node", node.grpc_addr).stdout)
        assert int(account["free"]) == 10**18 + 25 * 10**11
        sr25519 = cli(
            "tx",
            "transfer",
            "--from",
            "sr25519://Eve",
            "--to",
            ferdie,
            "--amount",
            "1.5",
            "--node",
            node.grpc_addr,
        )  # polkadot-js's //Eve, funded at genesis too
        assert sr25519.returncode == 0 and "finalized in block" in sr25519.stdout, sr25519.stderr
        account = json.loads(cli("query", "account", ferdie, "--json", "--node", node.grpc_addr).stdout)
        assert int(account["free"]) == 10**18 + 40 * 10**11
        events = json.loads(
            cli("query", "events", out.stdout.split("#")[1].split()[0], "--node", node.grpc_addr).stdout
        )
        assert any(e["event"] == "Transfer" for e in events["events"])
        bad = cli(
            "tx",
            "transfer",
            "--from",
            "//Alice",
            "--to",
            "not-an-address",
            "--amount",
            "1",
            "--node",
            node.grpc_addr,
        )
        assert bad.returncode != 0 and "not a valid SS58 address" in bad.stderr
        poor = cli(
            "tx", "transfer", "--from", "//Nobody", "--to", ferdie, "--amount", "1", "--node", node.grpc_addr
        )
        assert poor.returncode != 0 and "Payment" in poor.stderr

        # A second node on the same base path: the database is locked.
        clash = cli(
            "node",
            "--chain",
            "dev",
            "-d",
            str(node.base),
            "--p2p-port",
            "0",
            "--grpc-port",
            "0",
            "--no-prometheus",
            "--rpc-port",
            "0",
            timeout=60,
        )
        assert clash.returncode != 0 and "locked" in clash.stderr
    finally:
        node.stop()

    # The base path now belongs to this `dev` chain: a different chain that reuses the id "dev" is refused.
    spec = json.loads(cli("build-spec", "--chain", "dev").stdout)
    spec["genesis"]["runtimeGenesis"]["config"]["balances"]["balances"][0][1] += 1
    other_spec = tmp_path / "other.json"
    other_spec.write_text(json.dumps(spec))
    other = cli(
        "node",
        "--chain",
        str(other_spec),
        "-d",
        str(node.base),
        "--grpc-port",
        "0",
        "--p2p-port",
        "0",
        "--rpc-port",
        "0",
        "--no-prometheus",
        timeout=60,
    )
    assert other.returncode != 0 and "belongs to the chain with genesis" in other.stderr


def test_invalid_busy_port_is_reported(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        out = cli(
            "node",
            "--dev",
            "-d",
            str(tmp_path / "n"),
            "--grpc-port",
            str(busy),
            "--p2p-port",
            "0",
            "--rpc-port",
            "0",
            "--no-prometheus",
            timeout=60,
        )
    assert out.returncode != 0
    assert f"cannot serve gRPC on 127.0.0.1:{busy}" in out.stderr, out.stderr


def test_invalid_corrupt_database_is_reported(tmp_path):
    db = tmp_path / "n" / "chains" / "dev" / "db"
    db.mkdir(parents=True)
    (db / "CURRENT").write_text("garbage-manifest\n")
    out = cli(
        "node",
        "--dev",
        "-d",
        str(tmp_path / "n"),
        "--grpc-port",
        "0",
        "--p2p-port",
        "0",
        "--rpc-port",
        "0",
        "--no-prometheus",
        timeout=60,
    )
    assert out.returncode != 0 and "database" in out.stderr.lower()


def test_invalid_arguments_are_rejected():
    out = cli("node", "--validator", "--chain", "dev", "--no-prometheus")
    assert out.returncode != 0 and "--key" in out.stderr
    out = cli("node", "--chain", "nowhere.json")
    assert out.returncode != 0 and "nowhere.json" in out.stderr


def test_grpc_reflection_health_metrics_and_errors(tmp_path):
    import urllib.request

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    from proto import chain_pb2, chain_pb2_grpc

    node = dev_node(tmp_path)
    metrics_port = free_ports(1)[0]
    node.prometheus = metrics_port
    net = Network.__new__(Network)
    net.nodes = [node]
    node.start()
    try:
        net.wait_height([node], 1, timeout=60)
        with grpc.insecure_channel(node.grpc_addr) as channel:
            services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
            assert {
                "gradchain.chain.v1.ChainService",
                "gradchain.blob.v1.BlobService",
                "grpc.health.v1.Health",
            } <= services
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
            assert status.status == health_pb2.HealthCheckResponse.SERVING
            stub = chain_pb2_grpc.ChainServiceStub(channel)
            with pytest.raises(grpc.RpcError) as bad_hash:
                stub.GetBlock(chain_pb2.BlockRequest(hash=b"\x01\x02"))
            assert bad_hash.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            with pytest.raises(grpc.RpcError) as missing:
                stub.GetBlock(chain_pb2.BlockRequest(number=10**9))
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
            with pytest.raises(grpc.RpcError) as garbage:
                stub.SubmitExtrinsic(chain_pb2.SubmitRequest(extrinsic=b"\xff\x00garbage"))
            assert garbage.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "Undecodable" in garbage.value.details()
            with pytest.raises(grpc.RpcError) as bad_address:
                stub.GetAccount(chain_pb2.AccountRequest(address="nope"))
            assert bad_address.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        samples = {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples}
        expected = {
            "gradchain_block_height_best",
            "gradchain_block_height_finalized",
            "gradchain_sync_peers",
            "gradchain_txpool_ready",
            "gradchain_txpool_future",
            "gradchain_txpool_bytes",
            "gradchain_block_execute_seconds_count",
            "gradchain_block_import_seconds_count",
            "gradchain_consensus_height_seconds_count",
            "gradchain_consensus_round",
        }
        assert expected <= set(samples), expected - set(samples)
        assert samples["gradchain_block_height_finalized"] >= 1
        assert samples["gradchain_block_height_best"] == samples["gradchain_block_height_finalized"]  # BFT
        assert samples["gradchain_block_import_seconds_count"] >= 1
        assert samples["gradchain_consensus_height_seconds_count"] >= 1
    finally:
        node.stop()
