from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ChainInfo(_message.Message):
    __slots__ = ("chain_name", "chain_id", "chain_type", "genesis_hash", "best_number", "best_hash", "finalized_number", "finalized_hash", "spec_version", "transaction_version", "ss58_format", "token_symbol", "token_decimals", "peers", "node_name", "node_version", "is_validator")
    CHAIN_NAME_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_TYPE_FIELD_NUMBER: _ClassVar[int]
    GENESIS_HASH_FIELD_NUMBER: _ClassVar[int]
    BEST_NUMBER_FIELD_NUMBER: _ClassVar[int]
    BEST_HASH_FIELD_NUMBER: _ClassVar[int]
    FINALIZED_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FINALIZED_HASH_FIELD_NUMBER: _ClassVar[int]
    SPEC_VERSION_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_VERSION_FIELD_NUMBER: _ClassVar[int]
    SS58_FORMAT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_DECIMALS_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    IS_VALIDATOR_FIELD_NUMBER: _ClassVar[int]
    chain_name: str
    chain_id: str
    chain_type: str
    genesis_hash: bytes
    best_number: int
    best_hash: bytes
    finalized_number: int
    finalized_hash: bytes
    spec_version: int
    transaction_version: int
    ss58_format: int
    token_symbol: str
    token_decimals: int
    peers: int
    node_name: str
    node_version: str
    is_validator: bool
    def __init__(self, chain_name: _Optional[str] = ..., chain_id: _Optional[str] = ..., chain_type: _Optional[str] = ..., genesis_hash: _Optional[bytes] = ..., best_number: _Optional[int] = ..., best_hash: _Optional[bytes] = ..., finalized_number: _Optional[int] = ..., finalized_hash: _Optional[bytes] = ..., spec_version: _Optional[int] = ..., transaction_version: _Optional[int] = ..., ss58_format: _Optional[int] = ..., token_symbol: _Optional[str] = ..., token_decimals: _Optional[int] = ..., peers: _Optional[int] = ..., node_name: _Optional[str] = ..., node_version: _Optional[str] = ..., is_validator: _Optional[bool] = ...) -> None: ...

class BlockRequest(_message.Message):
    __slots__ = ("number", "hash")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    number: int
    hash: bytes
    def __init__(self, number: _Optional[int] = ..., hash: _Optional[bytes] = ...) -> None: ...

class Header(_message.Message):
    __slots__ = ("hash", "parent_hash", "number", "state_root", "extrinsics_root", "digest", "encoded")
    HASH_FIELD_NUMBER: _ClassVar[int]
    PARENT_HASH_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    STATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    EXTRINSICS_ROOT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    hash: bytes
    parent_hash: bytes
    number: int
    state_root: bytes
    extrinsics_root: bytes
    digest: _containers.RepeatedScalarFieldContainer[bytes]
    encoded: bytes
    def __init__(self, hash: _Optional[bytes] = ..., parent_hash: _Optional[bytes] = ..., number: _Optional[int] = ..., state_root: _Optional[bytes] = ..., extrinsics_root: _Optional[bytes] = ..., digest: _Optional[_Iterable[bytes]] = ..., encoded: _Optional[bytes] = ...) -> None: ...

class Block(_message.Message):
    __slots__ = ("header", "extrinsics", "justification")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    EXTRINSICS_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    header: Header
    extrinsics: _containers.RepeatedScalarFieldContainer[bytes]
    justification: bytes
    def __init__(self, header: _Optional[_Union[Header, _Mapping]] = ..., extrinsics: _Optional[_Iterable[bytes]] = ..., justification: _Optional[bytes] = ...) -> None: ...

class ExtrinsicRequest(_message.Message):
    __slots__ = ("block", "index")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    block: BlockRequest
    index: int
    def __init__(self, block: _Optional[_Union[BlockRequest, _Mapping]] = ..., index: _Optional[int] = ...) -> None: ...

class Extrinsic(_message.Message):
    __slots__ = ("hash", "raw", "signed", "signer", "nonce", "tip", "pallet", "call", "args_json", "success", "index", "block_hash")
    HASH_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    SIGNED_FIELD_NUMBER: _ClassVar[int]
    SIGNER_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    TIP_FIELD_NUMBER: _ClassVar[int]
    PALLET_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    hash: bytes
    raw: bytes
    signed: bool
    signer: str
    nonce: int
    tip: str
    pallet: str
    call: str
    args_json: str
    success: bool
    index: int
    block_hash: bytes
    def __init__(self, hash: _Optional[bytes] = ..., raw: _Optional[bytes] = ..., signed: _Optional[bool] = ..., signer: _Optional[str] = ..., nonce: _Optional[int] = ..., tip: _Optional[str] = ..., pallet: _Optional[str] = ..., call: _Optional[str] = ..., args_json: _Optional[str] = ..., success: _Optional[bool] = ..., index: _Optional[int] = ..., block_hash: _Optional[bytes] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("phase", "extrinsic_index", "pallet", "name", "fields_json", "raw")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    EXTRINSIC_INDEX_FIELD_NUMBER: _ClassVar[int]
    PALLET_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIELDS_JSON_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    phase: str
    extrinsic_index: int
    pallet: str
    name: str
    fields_json: str
    raw: bytes
    def __init__(self, phase: _Optional[str] = ..., extrinsic_index: _Optional[int] = ..., pallet: _Optional[str] = ..., name: _Optional[str] = ..., fields_json: _Optional[str] = ..., raw: _Optional[bytes] = ...) -> None: ...

class Events(_message.Message):
    __slots__ = ("block_hash", "block_number", "events")
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    block_hash: bytes
    block_number: int
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, block_hash: _Optional[bytes] = ..., block_number: _Optional[int] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class AccountRequest(_message.Message):
    __slots__ = ("address", "at")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    address: str
    at: BlockRequest
    def __init__(self, address: _Optional[str] = ..., at: _Optional[_Union[BlockRequest, _Mapping]] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("account_id", "address", "nonce", "free", "reserved", "frozen", "next_index")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    FREE_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    FROZEN_FIELD_NUMBER: _ClassVar[int]
    NEXT_INDEX_FIELD_NUMBER: _ClassVar[int]
    account_id: bytes
    address: str
    nonce: int
    free: str
    reserved: str
    frozen: str
    next_index: int
    def __init__(self, account_id: _Optional[bytes] = ..., address: _Optional[str] = ..., nonce: _Optional[int] = ..., free: _Optional[str] = ..., reserved: _Optional[str] = ..., frozen: _Optional[str] = ..., next_index: _Optional[int] = ...) -> None: ...

class StorageRequest(_message.Message):
    __slots__ = ("key", "at")
    KEY_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    at: BlockRequest
    def __init__(self, key: _Optional[bytes] = ..., at: _Optional[_Union[BlockRequest, _Mapping]] = ...) -> None: ...

class StorageValue(_message.Message):
    __slots__ = ("present", "value", "block_hash")
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    present: bool
    value: bytes
    block_hash: bytes
    def __init__(self, present: _Optional[bool] = ..., value: _Optional[bytes] = ..., block_hash: _Optional[bytes] = ...) -> None: ...

class ReadProofRequest(_message.Message):
    __slots__ = ("keys", "at")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    at: BlockRequest
    def __init__(self, keys: _Optional[_Iterable[bytes]] = ..., at: _Optional[_Union[BlockRequest, _Mapping]] = ...) -> None: ...

class ReadProof(_message.Message):
    __slots__ = ("block_hash", "state_root", "nodes")
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    block_hash: bytes
    state_root: bytes
    nodes: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, block_hash: _Optional[bytes] = ..., state_root: _Optional[bytes] = ..., nodes: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("extrinsic",)
    EXTRINSIC_FIELD_NUMBER: _ClassVar[int]
    extrinsic: bytes
    def __init__(self, extrinsic: _Optional[bytes] = ...) -> None: ...

class SubmitResponse(_message.Message):
    __slots__ = ("hash",)
    HASH_FIELD_NUMBER: _ClassVar[int]
    hash: bytes
    def __init__(self, hash: _Optional[bytes] = ...) -> None: ...

class ExtrinsicStatus(_message.Message):
    __slots__ = ("status", "hash", "block_hash", "block_number", "reason", "success", "events")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        UNKNOWN: _ClassVar[ExtrinsicStatus.Status]
        READY: _ClassVar[ExtrinsicStatus.Status]
        FUTURE: _ClassVar[ExtrinsicStatus.Status]
        IN_BLOCK: _ClassVar[ExtrinsicStatus.Status]
        FINALIZED: _ClassVar[ExtrinsicStatus.Status]
        INVALID: _ClassVar[ExtrinsicStatus.Status]
        DROPPED: _ClassVar[ExtrinsicStatus.Status]
        USURPED: _ClassVar[ExtrinsicStatus.Status]
    UNKNOWN: ExtrinsicStatus.Status
    READY: ExtrinsicStatus.Status
    FUTURE: ExtrinsicStatus.Status
    IN_BLOCK: ExtrinsicStatus.Status
    FINALIZED: ExtrinsicStatus.Status
    INVALID: ExtrinsicStatus.Status
    DROPPED: ExtrinsicStatus.Status
    USURPED: ExtrinsicStatus.Status
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    status: ExtrinsicStatus.Status
    hash: bytes
    block_hash: bytes
    block_number: int
    reason: str
    success: bool
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, status: _Optional[_Union[ExtrinsicStatus.Status, str]] = ..., hash: _Optional[bytes] = ..., block_hash: _Optional[bytes] = ..., block_number: _Optional[int] = ..., reason: _Optional[str] = ..., success: _Optional[bool] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...
