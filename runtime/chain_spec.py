"""Chain specs: Substrate's JSON layout, strictly checked, to a runtime and a deterministic genesis.

Layout (keys beyond Substrate's are ours):

    name, id, chainType ("Development" | "Local" | "Live"), bootNodes, telemetryEndpoints (null), protocolId,
    properties {ss58Format, tokenDecimals, tokenSymbol},
    consensus {...}         timeouts and the like, read by the node, passed through untouched here
    parameters {system: {...}, timestamp: {...}, balances: {...}, transactionPayment: {...}, staking: {...}}
                            the pallets' Config values (Substrate compiles these in; we read them)
    genesis {runtimeGenesis: {config: {balances: {balances: [[account, amount]]},
                                       staking: {stakers: [[stash, session_key, bond]]}, sudo: {key}}}}
      or    {raw: {top: {"0x<key>": "0x<value>"}}}    (what `build-spec --raw` writes)

Both genesis forms give the same storage, so the same genesis hash: the genesis header has a zero parent,
number 0, the trie root of the genesis storage, the root of no extrinsics, and an empty digest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from chain.primitives.crypto import InvalidAddress, decode_address
from chain.primitives.types import ZERO_HASH, Header
from chain.storage.overlay import MemoryBackend, Overlay
from chain.storage.trie import ordered_trie_root
from compute_market.pallet.types import MarketConfig
from runtime.composition import BY_NAME
from runtime.executive import Runtime
from runtime.frame.pallet import BlockEnv, externalities
from runtime.metadata import CODE_KEY, runtime_code
from runtime.pallets.balances import BalancesConfig
from runtime.pallets.staking import StakingConfig
from runtime.pallets.sudo import Key as SudoKey
from runtime.pallets.system import SystemConfig
from runtime.pallets.timestamp import TimestampConfig
from runtime.pallets.transaction_payment import TransactionPaymentConfig
from runtime.state import trie_root

MAX_SPEC_BYTES = 16 * 1024 * 1024
GENESIS_DIR = Path(__file__).resolve().parent.parent / "genesis"
CHAIN_TYPES = ("Development", "Local", "Live")
SUDO_CHAIN_TYPES = ("Development", "Local")
PARAMETER_SECTIONS: dict[str, type] = {
    "system": SystemConfig,
    "timestamp": TimestampConfig,
    "balances": BalancesConfig,
    "transactionPayment": TransactionPaymentConfig,
    "staking": StakingConfig,
    "computeMarket": MarketConfig,
}


class ChainSpecError(ValueError):
    """The chain spec is unusable; the message names the offending field."""


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.capitalize() for w in rest)


def _expect(value: Any, kind: type | tuple, where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ChainSpecError(f"{where}: expected {names}, got {type(value).__name__}")
    return value


def _only_keys(obj: dict, allowed: set[str], where: str, required: set[str] = frozenset()) -> None:
    extra = set(obj) - allowed
    if extra:
        raise ChainSpecError(f"{where}: unknown field(s) {sorted(extra)}")
    missing = set(required) - set(obj)
    if missing:
        raise ChainSpecError(f"{where}: missing field(s) {sorted(missing)}")


def _account(value: Any, where: str) -> bytes:
    try:
        return decode_address(_expect(value, str, where))
    except InvalidAddress as e:
        raise ChainSpecError(f"{where}: {e}") from None


def _hex(value: Any, where: str, length: int | None = None) -> bytes:
    s = _expect(value, str, where)
    if not re.fullmatch(r"0x([0-9a-fA-F]{2})*", s):
        raise ChainSpecError(f"{where}: expected 0x-prefixed hex")
    raw = bytes.fromhex(s[2:])
    if length is not None and len(raw) != length:
        raise ChainSpecError(f"{where}: expected {length} bytes, got {len(raw)}")
    return raw


def _amount(value: Any, where: str) -> int:
    n = _expect(value, int, where)
    if not 0 <= n < 1 << 128:
        raise ChainSpecError(f"{where}: {n} is not a u128 amount")
    return n


@dataclass(frozen=True)
class ChainSpec:
    name: str
    id: str
    chain_type: str
    boot_nodes: tuple[str, ...]
    protocol_id: str | None
    properties: dict
    consensus: dict
    configs: dict[type, Any]
    genesis_storage: dict[bytes, bytes]
    json: dict

    @property
    def genesis_header(self) -> Header:
        return Header(ZERO_HASH, 0, trie_root(self.genesis_storage), ordered_trie_root([]), ())

    @property
    def genesis_hash(self) -> bytes:
        return self.genesis_header.hash

    def runtime(self) -> Runtime:
        return Runtime(dict(self.configs), self.genesis_hash)

    def to_raw(self) -> dict:
        out = dict(self.json)
        out["genesis"] = {
            "raw": {"top": {"0x" + k.hex(): "0x" + v.hex() for k, v in sorted(self.genesis_storage.items())}}
        }
        return out


def _parse_parameters(params: dict) -> dict[type, Any]:
    _only_keys(params, set(PARAMETER_SECTIONS), "parameters")
    configs: dict[type, Any] = {}
    for section, cls in PARAMETER_SECTIONS.items():
        given = _expect(params.get(section, {}), dict, f"parameters.{section}")
        names = {_camel(f.name): f.name for f in fields(cls)}
        _only_keys(given, set(names), f"parameters.{section}")
        configs[cls] = cls(**{names[k]: _amount(v, f"parameters.{section}.{k}") for k, v in given.items()})
    return configs


def _parse_genesis_config(config: dict, chain_type: str) -> dict[str, dict]:
    where = "genesis.runtimeGenesis.config"
    _only_keys(config, {"balances", "staking", "sudo"}, where)
    balances = _expect(config.get("balances", {}), dict, f"{where}.balances")
    _only_keys(balances, {"balances"}, f"{where}.balances")
    endowed = []
    for i, entry in enumerate(_expect(balances.get("balances", []), list, f"{where}.balances.balances")):
        w = f"{where}.balances.balances[{i}]"
        if not isinstance(entry, list) or len(entry) != 2:
            raise ChainSpecError(f"{w}: expected [account, amount]")
        endowed.append((_account(entry[0], f"{w}[0]"), _amount(entry[1], f"{w}[1]")))
    if len({a for a, _ in endowed}) != len(endowed):
        raise ChainSpecError(f"{where}.balances.balances: an account is endowed twice")
    staking = _expect(config.get("staking", {}), dict, f"{where}.staking")
    _only_keys(staking, {"stakers"}, f"{where}.staking")
    stakers = []
    for i, entry in enumerate(_expect(staking.get("stakers", []), list, f"{where}.staking.stakers")):
        w = f"{where}.staking.stakers[{i}]"
        if not isinstance(entry, list) or len(entry) != 3:
            raise ChainSpecError(f"{w}: expected [stash, session_key, bond]")
        stakers.append(
            (_account(entry[0], f"{w}[0]"), _hex(entry[1], f"{w}[1]", 32), _amount(entry[2], f"{w}[2]"))
        )
    sudo = _expect(config.get("sudo", {}), dict, f"{where}.sudo")
    _only_keys(sudo, {"key"}, f"{where}.sudo")
    key = None if sudo.get("key") is None else _account(sudo["key"], f"{where}.sudo.key")
    if key is not None and chain_type not in SUDO_CHAIN_TYPES:
        raise ChainSpecError(
            f"{where}.sudo.key: sudo is only for Development and Local chains, not {chain_type}"
        )
    return {"Balances": {"balances": endowed}, "Staking": {"stakers": stakers}, "Sudo": {"key": key}}


def build_genesis_storage(configs: dict[type, Any], sections: dict[str, dict]) -> dict[bytes, bytes]:
    """Run each pallet's genesis builder in composition order, and write `:code` (what identifies the runtime,
    see runtime.metadata); the result is the genesis storage."""
    overlay = Overlay(MemoryBackend())
    env = BlockEnv(configs)
    with externalities(overlay, env):
        for pallet in BY_NAME.values():
            if pallet.genesis is not None:
                cfg = configs.get(pallet.config) if pallet.config else None
                try:
                    pallet.genesis(cfg, sections.get(pallet.name, {}))
                except Exception as e:
                    raise ChainSpecError(
                        f"genesis.runtimeGenesis.config.{_camel(pallet.name.lower())}: "
                        f"{type(e).__name__}: {e}"
                    ) from e
        overlay.set(CODE_KEY, runtime_code(configs))
    return {k: val for k, val in overlay.changes().items() if val is not None}


def parse_chain_spec(doc: dict) -> ChainSpec:
    _expect(doc, dict, "chain spec")
    _only_keys(
        doc,
        {
            "name",
            "id",
            "chainType",
            "bootNodes",
            "telemetryEndpoints",
            "protocolId",
            "properties",
            "consensus",
            "parameters",
            "genesis",
            "codeSubstitutes",
            "forkId",
        },
        "chain spec",
        required={"name", "id", "chainType", "genesis"},
    )
    chain_type = _expect(doc["chainType"], str, "chainType")
    if chain_type not in CHAIN_TYPES:
        raise ChainSpecError(f"chainType: {chain_type!r} is not one of {CHAIN_TYPES}")
    chain_id = _expect(doc["id"], str, "id")
    if not re.fullmatch(r"[a-z0-9_\-]{1,64}", chain_id):
        raise ChainSpecError(f"id: {chain_id!r} must be 1-64 lowercase letters, digits, '-' or '_'")
    boot_nodes = tuple(
        _expect(b, str, f"bootNodes[{i}]")
        for i, b in enumerate(_expect(doc.get("bootNodes", []), list, "bootNodes"))
    )
    properties = _expect(doc.get("properties") or {}, dict, "properties")
    _only_keys(properties, {"ss58Format", "tokenDecimals", "tokenSymbol"}, "properties")
    configs = _parse_parameters(_expect(doc.get("parameters", {}), dict, "parameters"))
    genesis = _expect(doc["genesis"], dict, "genesis")
    _only_keys(genesis, {"runtimeGenesis", "raw"}, "genesis")
    if len(genesis) != 1:
        raise ChainSpecError("genesis: exactly one of runtimeGenesis or raw is required")
    if "raw" in genesis:
        raw = _expect(genesis["raw"], dict, "genesis.raw")
        _only_keys(raw, {"top", "childrenDefault"}, "genesis.raw", required={"top"})
        top = _expect(raw["top"], dict, "genesis.raw.top")
        storage = {
            _hex(k, f"genesis.raw.top key {k[:20]}"): _hex(val, f"genesis.raw.top[{k[:20]}]")
            for k, val in top.items()
        }
        if chain_type == "Live" and SudoKey.key() in storage:
            raise ChainSpecError(
                "genesis.raw.top: sets Sudo.Key, but sudo is only for Development and Local chains, not Live"
            )
    else:
        rg = _expect(genesis["runtimeGenesis"], dict, "genesis.runtimeGenesis")
        _only_keys(rg, {"config", "patch", "code"}, "genesis.runtimeGenesis", required={"config"})
        sections = _parse_genesis_config(
            _expect(rg["config"], dict, "genesis.runtimeGenesis.config"), chain_type
        )
        storage = build_genesis_storage(configs, sections)
    return ChainSpec(
        name=_expect(doc["name"], str, "name"),
        id=chain_id,
        chain_type=chain_type,
        boot_nodes=boot_nodes,
        protocol_id=doc.get("protocolId"),
        properties=properties,
        consensus=_expect(doc.get("consensus", {}), dict, "consensus"),
        configs=configs,
        genesis_storage=storage,
        json=doc,
    )


def load_chain_spec(chain: str) -> ChainSpec:
    """`dev`, `local`, or a path to a JSON chain spec (plain or raw)."""
    path = GENESIS_DIR / f"{chain}.json" if chain in ("dev", "local") else Path(chain)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise ChainSpecError(f"{path}: {size} bytes exceeds the cap of {MAX_SPEC_BYTES}")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ChainSpecError(f"{path}: cannot read the chain spec: {e.strerror}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ChainSpecError(f"{path}: not JSON: {e}") from None
    return parse_chain_spec(doc)
