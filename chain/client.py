"""A small synchronous gRPC client for the CLI, workers and tests: chain info, accounts, signing, submitting."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import grpc
from google.protobuf.json_format import MessageToDict

from chain.primitives import calls
from chain.primitives.crypto import Signer
from chain.primitives.extrinsic import Era, sign_extrinsic
from proto import chain_pb2, chain_pb2_grpc


class ClientError(RuntimeError):
    """The node could not be reached, or refused the request; the message says why."""


@dataclass(frozen=True)
class ChainParams:
    genesis_hash: bytes
    spec_version: int
    transaction_version: int
    ss58_format: int
    token_symbol: str
    token_decimals: int


def transfer_call(dest: bytes, amount: int, keep_alive: bool = True) -> bytes:
    """Balances.transfer_keep_alive (or, without `keep_alive`, transfer_allow_death) of `amount` to `dest`."""
    if keep_alive:
        return calls.Balances.transfer_keep_alive(dest, amount)
    return calls.Balances.transfer_allow_death(dest, amount)


class NodeClient:
    def __init__(self, address: str, timeout: float = 10.0):
        self.address = address
        self.timeout = timeout
        self.channel = grpc.insecure_channel(address, options=[("grpc.max_receive_message_length", 16 << 20)])
        self.chain = chain_pb2_grpc.ChainServiceStub(self.channel)
        self._params: ChainParams | None = None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, timeout: float | None = None):
        try:
            return method(request, timeout=timeout or self.timeout)
        except grpc.RpcError as e:
            code = e.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ClientError(f"node at {self.address} is unreachable: {e.details()}") from None
            raise ClientError(f"{code.name}: {e.details()}") from None

    def wait_ready(self, timeout: float = 30.0) -> chain_pb2.ChainInfo:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._call(self.chain.GetChainInfo, chain_pb2.Empty(), timeout=2.0)
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def info(self) -> chain_pb2.ChainInfo:
        return self._call(self.chain.GetChainInfo, chain_pb2.Empty())

    def params(self) -> ChainParams:
        if self._params is None:
            i = self.info()
            self._params = ChainParams(
                bytes(i.genesis_hash),
                i.spec_version,
                i.transaction_version,
                i.ss58_format,
                i.token_symbol,
                i.token_decimals,
            )
        return self._params

    def account(self, address: str) -> chain_pb2.Account:
        return self._call(self.chain.GetAccount, chain_pb2.AccountRequest(address=address))

    def block(self, number: int | None = None, block_hash: bytes | None = None) -> chain_pb2.Block:
        return self._call(self.chain.GetBlock, _block_request(number, block_hash))

    def header(self, number: int | None = None, block_hash: bytes | None = None) -> chain_pb2.Header:
        return self._call(self.chain.GetHeader, _block_request(number, block_hash))

    def events(self, number: int | None = None, block_hash: bytes | None = None) -> chain_pb2.Events:
        return self._call(self.chain.GetEvents, _block_request(number, block_hash))

    def sign(
        self,
        keypair: Signer,
        call: bytes,
        nonce: int | None = None,
        tip: int = 0,
        mortal_period: int | None = None,
    ) -> bytes:
        p = self.params()
        if nonce is None:
            nonce = self.account("0x" + keypair.public.hex()).next_index
        era, birth = Era(), None
        if mortal_period:
            head = self.header()
            era = Era.mortal(mortal_period, head.number)
            birth = bytes(self.header(number=era.birth(head.number)).hash)
        xt = sign_extrinsic(
            keypair,
            call,
            nonce=nonce,
            tip=tip,
            spec_version=p.spec_version,
            tx_version=p.transaction_version,
            genesis_hash=p.genesis_hash,
            era=era,
            birth_hash=birth,
        )
        return xt.encode()

    def submit(self, raw: bytes) -> bytes:
        return bytes(self._call(self.chain.SubmitExtrinsic, chain_pb2.SubmitRequest(extrinsic=raw)).hash)

    def submit_and_watch(self, raw: bytes, timeout: float = 60.0) -> chain_pb2.ExtrinsicStatus:
        """Submit and wait for the final status: FINALIZED (check `.success`), INVALID, DROPPED or USURPED."""
        final = None
        try:
            for status in self.chain.WatchExtrinsic(chain_pb2.SubmitRequest(extrinsic=raw), timeout=timeout):
                final = status
                if status.status not in (chain_pb2.ExtrinsicStatus.READY, chain_pb2.ExtrinsicStatus.FUTURE):
                    break
        except grpc.RpcError as e:
            raise ClientError(f"watching the extrinsic failed: {e.code().name}: {e.details()}") from None
        if final is None:
            raise ClientError("the node closed the watch stream without a status")
        return final


def _block_request(number: int | None, block_hash: bytes | None) -> chain_pb2.BlockRequest:
    if block_hash is not None:
        return chain_pb2.BlockRequest(hash=block_hash)
    if number is not None:
        return chain_pb2.BlockRequest(number=number)
    return chain_pb2.BlockRequest()


def status_name(status: chain_pb2.ExtrinsicStatus) -> str:
    return chain_pb2.ExtrinsicStatus.Status.Name(status.status)


def to_json(message) -> str:
    return json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2)
