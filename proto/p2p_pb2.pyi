from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Hello(_message.Message):
    __slots__ = ("genesis_hash", "node_key", "challenge", "best_number", "best_hash", "listen_addr", "node_name")
    GENESIS_HASH_FIELD_NUMBER: _ClassVar[int]
    NODE_KEY_FIELD_NUMBER: _ClassVar[int]
    CHALLENGE_FIELD_NUMBER: _ClassVar[int]
    BEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    BEST_HASH_FIELD_NUMBER: _ClassVar[int]
    LISTEN_ADDR_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    genesis_hash: bytes
    node_key: bytes
    challenge: bytes
    best_number: int
    best_hash: bytes
    listen_addr: str
    node_name: str
    def __init__(self, genesis_hash: _Optional[bytes] = ..., node_key: _Optional[bytes] = ..., challenge: _Optional[bytes] = ..., best_number: _Optional[int] = ..., best_hash: _Optional[bytes] = ..., listen_addr: _Optional[str] = ..., node_name: _Optional[str] = ...) -> None: ...

class HelloProof(_message.Message):
    __slots__ = ("signature", "validator_key", "validator_signature")
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_KEY_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    signature: bytes
    validator_key: bytes
    validator_signature: bytes
    def __init__(self, signature: _Optional[bytes] = ..., validator_key: _Optional[bytes] = ..., validator_signature: _Optional[bytes] = ...) -> None: ...

class SyncRequest(_message.Message):
    __slots__ = ("from_number", "max_blocks")
    FROM_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MAX_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    from_number: int
    max_blocks: int
    def __init__(self, from_number: _Optional[int] = ..., max_blocks: _Optional[int] = ...) -> None: ...

class CertifiedBlock(_message.Message):
    __slots__ = ("block", "justification")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    block: bytes
    justification: bytes
    def __init__(self, block: _Optional[bytes] = ..., justification: _Optional[bytes] = ...) -> None: ...

class SyncResponse(_message.Message):
    __slots__ = ("blocks", "peer_best")
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    PEER_BEST_FIELD_NUMBER: _ClassVar[int]
    blocks: _containers.RepeatedCompositeFieldContainer[CertifiedBlock]
    peer_best: int
    def __init__(self, blocks: _Optional[_Iterable[_Union[CertifiedBlock, _Mapping]]] = ..., peer_best: _Optional[int] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("best_number", "best_hash", "peers")
    BEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    BEST_HASH_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    best_number: int
    best_hash: bytes
    peers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, best_number: _Optional[int] = ..., best_hash: _Optional[bytes] = ..., peers: _Optional[_Iterable[str]] = ...) -> None: ...

class PeerMessage(_message.Message):
    __slots__ = ("hello", "hello_proof", "transaction", "consensus", "block", "sync_request", "sync_response", "evidence", "status", "blob_request", "blob_chunk", "transactions")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HELLO_PROOF_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    SYNC_REQUEST_FIELD_NUMBER: _ClassVar[int]
    SYNC_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BLOB_REQUEST_FIELD_NUMBER: _ClassVar[int]
    BLOB_CHUNK_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    hello_proof: HelloProof
    transaction: bytes
    consensus: bytes
    block: CertifiedBlock
    sync_request: SyncRequest
    sync_response: SyncResponse
    evidence: bytes
    status: Status
    blob_request: bytes
    blob_chunk: BlobChunk
    transactions: TransactionBatch
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., hello_proof: _Optional[_Union[HelloProof, _Mapping]] = ..., transaction: _Optional[bytes] = ..., consensus: _Optional[bytes] = ..., block: _Optional[_Union[CertifiedBlock, _Mapping]] = ..., sync_request: _Optional[_Union[SyncRequest, _Mapping]] = ..., sync_response: _Optional[_Union[SyncResponse, _Mapping]] = ..., evidence: _Optional[bytes] = ..., status: _Optional[_Union[Status, _Mapping]] = ..., blob_request: _Optional[bytes] = ..., blob_chunk: _Optional[_Union[BlobChunk, _Mapping]] = ..., transactions: _Optional[_Union[TransactionBatch, _Mapping]] = ...) -> None: ...

class TransactionBatch(_message.Message):
    __slots__ = ("extrinsics",)
    EXTRINSICS_FIELD_NUMBER: _ClassVar[int]
    extrinsics: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, extrinsics: _Optional[_Iterable[bytes]] = ...) -> None: ...

class BlobChunk(_message.Message):
    __slots__ = ("hash", "offset", "data", "last", "missing")
    HASH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    hash: bytes
    offset: int
    data: bytes
    last: bool
    missing: bool
    def __init__(self, hash: _Optional[bytes] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ..., missing: _Optional[bool] = ...) -> None: ...
