"""The executive: runs blocks and checks transactions (Substrate's `frame_executive`).

One `Executive` executes one block on an `Overlay` over its parent state:

    ex = Executive(runtime, Overlay(parent_state))
    ex.initialize_block(parent_hash, number, digest)
    outcome = ex.apply_extrinsic(raw)            # raises TransactionValidityError if it cannot be included
    finalized = ex.finalize_block(state_root)    # header, net state changes, events

`state_root(changes) -> bytes` is the caller's: the node passes `lambda ch: statedb.prepare(ch).root`
(keeping the prepared update to write), tests use `InMemoryChainState.root_after`.

Applying a signed extrinsic: decode; check era, signature (once), nonce and fee; withdraw the fee and bump
the nonce; dispatch the call in its own transaction (a failed call's writes and events are rolled back);
pay the fee out; emit `System.ExtrinsicSuccess` or `System.ExtrinsicFailed` with the DispatchError. So a
failed call still costs its fee and uses its nonce, as in Substrate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chain.primitives.codec import DecodeError, Reader
from chain.primitives.crypto import VERIFIERS, SignatureScheme, UnsupportedScheme
from chain.primitives.extrinsic import UncheckedExtrinsic, UnsupportedSignerAddress, signing_payload
from chain.primitives.hashing import blake2_256
from chain.primitives.types import DigestItem, Header
from chain.storage.overlay import Overlay
from chain.storage.trie import ordered_trie_root
from runtime import validity as v
from runtime.composition import ALL_PALLETS, BY_NAME
from runtime.frame.pallet import (
    PHASE_FINALIZATION,
    RUNTIME_CALL,
    BlockEnv,
    Call,
    RecordedEvent,
    dispatch_transactional,
    externalities,
)
from runtime.frame.support import NONE, DispatchClass, DispatchError, DispatchInfo, Origin
from runtime.metadata import CODE_KEY, runtime_code
from runtime.pallets import session, system, transaction_payment
from runtime.pallets.balances import BalancesConfig, BalancesError
from runtime.pallets.staking import check_equivocation
from runtime.pallets.system import Account, BlockHash, SystemConfig, SystemEvent
from runtime.version import VERSION, RuntimeVersion

StateRootFn = Callable[[Mapping[bytes, bytes | None]], bytes]
SIGNATURE_CACHE_SIZE = 65_536
_verified: dict[bytes, None] = {}
# Node threads verify ahead of the event loop (chain.node.signature_verifier), so inserts and evictions are
# serialized; a lookup is one dict membership test, atomic under the GIL, and takes no lock.
_verified_lock = threading.Lock()


def verified_signature(
    signer: bytes, payload: bytes, signature: bytes, scheme: SignatureScheme = SignatureScheme.ED25519
) -> bool:
    """Signature verification by MultiSignature scheme (Ed25519 unless told), remembered for signatures
    that verified; raises UnsupportedScheme for a scheme with no verifier (Ecdsa).

    A transaction is checked by the pool and again in every block that contains it; the cache makes the
    second check free. It is sound: the key is the hash of scheme, signer, signed payload (which already binds
    the genesis hash, spec and transaction versions and the era's birth block) and signature, and only
    successes are kept. Failures are recomputed every time. The scheme is part of the key so that bytes
    which verified under one scheme are never taken as verified under another (consensus messages, which
    are Ed25519 only, share this cache).
    """
    verifier = VERIFIERS.get(scheme)
    if verifier is None:
        raise UnsupportedScheme(SignatureScheme(scheme))
    key = blake2_256(bytes((scheme,)) + signer + signature + payload)
    if key in _verified:
        return True
    if not verifier(signer, payload, signature):
        return False
    with _verified_lock:
        if len(_verified) >= SIGNATURE_CACHE_SIZE:
            _verified.pop(next(iter(_verified)))
        _verified[key] = None
    return True


def forget_verified_signatures() -> None:
    """Empty the cache of verified signatures, so that every signature is verified again (benchmarks that
    time verification itself)."""
    with _verified_lock:
        _verified.clear()


@dataclass(frozen=True)
class SignatureCheck:
    """One signed extrinsic's signature, as the pool's check of it will verify it."""

    signer: bytes
    payload: bytes
    signature: bytes
    scheme: SignatureScheme

    def verified(self) -> bool:
        return verified_signature(self.signer, self.payload, self.signature, self.scheme)


TIMESTAMP_SET = (BY_NAME["Timestamp"].index, 0)


@dataclass
class Runtime:
    """The configured runtime of one chain: pallet configs from its chain spec and its genesis hash."""

    configs: dict[type, Any]
    genesis_hash: bytes
    version: RuntimeVersion = VERSION
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def env(self) -> BlockEnv:
        return BlockEnv(self.configs, self.hooks)

    def register_hook(self, name: str, fn: Callable[..., Any]) -> None:
        """Node-provided callables the runtime consults (e.g. `verify_equivocation` for Staking)."""
        self.hooks[name] = fn


@dataclass(frozen=True)
class ApplyOutcome:
    """An included extrinsic: `error` is None on success, else the DispatchError its call failed with."""

    info: DispatchInfo
    fee: int
    error: DispatchError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class FinalizedBlock:
    header: Header
    changes: dict[bytes, bytes | None]
    events: list[tuple[bytes, RecordedEvent]]


@dataclass(frozen=True)
class CheckedExtrinsic:
    xt: UncheckedExtrinsic
    call: Call
    info: DispatchInfo
    length: int
    fee: int = 0


def require_supported_scheme(xt: UncheckedExtrinsic) -> None:
    """Refuse a signature scheme this runtime cannot verify (Ecdsa) as `UnsupportedSignatureScheme`, never as a
    bad proof; the pool, block application and fee estimates all ask here, so they agree."""
    if xt.signature is not None and xt.signature.scheme not in VERIFIERS:
        raise v.UnsupportedSignatureScheme(str(UnsupportedScheme(xt.signature.scheme)))


def decode_extrinsic(raw: bytes) -> tuple[UncheckedExtrinsic, Call]:
    try:
        xt = UncheckedExtrinsic.decode(raw)
        r = Reader(xt.call)
        c = RUNTIME_CALL.decode(r)
        r.finish()
    except DecodeError as e:
        raise v.Undecodable(f"cannot decode the extrinsic: {e}") from None
    return xt, c


class Executive:
    def __init__(self, runtime: Runtime, state: Overlay):
        self.runtime = runtime
        self.state = state
        self.env = runtime.env()
        self.extrinsics: list[bytes] = []
        self.header_fields: tuple[bytes, int, tuple[DigestItem, ...]] | None = None

    def _ext(self):
        return externalities(self.state, self.env)

    # --- block lifecycle --------------------------------------------------------------------------------

    def initialize_block(self, parent_hash: bytes, number: int, digest: Sequence[DigestItem] = ()) -> None:
        self.header_fields = (parent_hash, number, tuple(digest))
        with self._ext():
            self.env.author = session.block_author(number, digest)  # raises AuthorDigestError
            system.initialize(number, parent_hash)
            code = runtime_code(self.runtime.configs, self.runtime.version)
            if (
                self.state.get(CODE_KEY) != code
            ):  # a runtime other than the one that wrote :code runs this block
                self.state.set(CODE_KEY, code)
            for p in ALL_PALLETS:
                if p.on_initialize is not None:
                    p.on_initialize(number)

    def apply_extrinsic(self, raw: bytes) -> ApplyOutcome:
        """Include one extrinsic, or raise a TransactionValidityError (the block may not contain it)."""
        with self._ext():
            index = len(self.extrinsics)
            xt, c = decode_extrinsic(raw)
            is_timestamp = (c.func.pallet.index, c.func.index) == TIMESTAMP_SET
            if (index == 0) != (is_timestamp and not xt.is_signed):
                raise v.BadMandatory(
                    "the Timestamp.set inherent must be the first extrinsic, and only the first"
                )
            self.env.set_phase_apply(index)
            if xt.is_signed:
                checked = self._check_signed(xt, c, len(raw), self.env.block_number, apply=True)
                outcome = self._apply_signed(checked)
            else:
                outcome = self._apply_unsigned(c, len(raw))
            self.extrinsics.append(raw)
            return outcome

    def finalize_block(self, state_root: StateRootFn) -> FinalizedBlock:
        assert self.header_fields is not None, "initialize_block first"
        parent_hash, number, digest = self.header_fields
        with self._ext():
            self.env.set_phase(PHASE_FINALIZATION)
            for p in ALL_PALLETS:
                if p.on_finalize is not None:
                    p.on_finalize(number)
            system.finalize()
        changes = self.state.changes()
        header = Header(parent_hash, number, state_root(changes), ordered_trie_root(self.extrinsics), digest)
        return FinalizedBlock(header, changes, list(self.env.events))

    # --- checks shared by the pool and block application ------------------------------------------------

    def _check_signed(
        self, xt: UncheckedExtrinsic, c: Call, length: int, current: int, apply: bool
    ) -> CheckedExtrinsic:
        s = xt.signature
        assert s is not None
        require_supported_scheme(xt)
        try:
            signer = s.signer
        except UnsupportedSignerAddress as e:
            raise v.CannotLookup(str(e)) from None
        payload = self._signed_payload(xt, current)
        if not verified_signature(signer, payload, s.signature, s.scheme):
            raise v.BadProof(
                "the signature does not match the payload (wrong key, genesis hash, spec or "
                "transaction version, or an era whose birth block is not the one signed for)"
            )
        account = Account.get(signer)
        if s.nonce < account.nonce:
            raise v.Stale(f"nonce {s.nonce} is stale: the account's next nonce is {account.nonce}")
        if apply and s.nonce > account.nonce:
            raise v.Future(f"nonce {s.nonce} is in the future: the account's next nonce is {account.nonce}")
        info = c.info()
        self._check_limits(info, length, apply)
        fee = transaction_payment.compute_fee(length, info, s.tip)
        ed = self.runtime.configs[BalancesConfig].existential_deposit
        if fee and (account.free < fee or (account.free - fee < ed and account.reserved == 0)):
            raise v.Payment(
                f"the fee of {fee} cannot be paid from a free balance of {account.free} while keeping "
                f"the existential deposit {ed}"
            )
        return CheckedExtrinsic(xt, c, info, length, fee)

    def _signed_payload(self, xt: UncheckedExtrinsic, current: int) -> bytes:
        """What the signer of `xt` signed, for inclusion in block `current`; raises AncientBirthBlock for an era
        whose birth block is not among the remembered block hashes."""
        s = xt.signature
        assert s is not None
        rt = self.runtime
        if s.era.is_immortal:
            birth_hash = rt.genesis_hash
        else:
            birth = s.era.birth(current)
            birth_hash = rt.genesis_hash if birth == 0 else BlockHash.get(birth)
            if birth >= current or birth_hash == bytes(32):
                raise v.AncientBirthBlock(
                    f"the era's birth block {birth} is not among the last "
                    f"{SystemConfig.current().block_hash_count} blocks before {current}"
                )
        return signing_payload(
            xt.call,
            s.era,
            s.nonce,
            s.tip,
            rt.version.spec_version,
            rt.version.transaction_version,
            rt.genesis_hash,
            birth_hash,
        )

    def _check_limits(self, info: DispatchInfo, length: int, in_block: bool) -> None:
        cfg: SystemConfig = self.runtime.configs[SystemConfig]
        if info.dispatch_class is DispatchClass.MANDATORY:
            return
        ratio = 100 if info.dispatch_class is DispatchClass.OPERATIONAL else cfg.normal_ratio_percent
        max_weight = cfg.max_block_weight * ratio // 100
        max_length = cfg.max_block_length * ratio // 100
        used_weight = sum(w.ref_time for w in self.env.weights) if in_block else 0
        used_length = self.env.extrinsics_len if in_block else 0
        if used_weight + info.weight.ref_time > max_weight:
            raise v.ExhaustsResources(
                f"weight {info.weight.ref_time} on top of {used_weight} used exceeds the "
                f"block's {max_weight} for {info.dispatch_class.name.lower()} calls"
            )
        if used_length + length > max_length:
            raise v.ExhaustsResources(
                f"{length} bytes on top of {used_length} used exceed the block's "
                f"{max_length} for {info.dispatch_class.name.lower()} calls"
            )

    # --- application ------------------------------------------------------------------------------------

    def _apply_signed(self, checked: CheckedExtrinsic) -> ApplyOutcome:
        s = checked.xt.signature
        assert s is not None
        who = s.signer
        try:
            transaction_payment.charge(who, checked.fee)
        except BalancesError as e:
            raise v.Payment(str(e)) from None
        info = Account.get(who)
        info.nonce += 1
        Account.insert(who, info)
        error = dispatch_transactional(checked.call, Origin.signed(who))
        transaction_payment.pay_out(who, checked.fee, s.tip)
        self._note(checked.info, checked.length, error)
        return ApplyOutcome(checked.info, checked.fee, error)

    def _apply_unsigned(self, c: Call, length: int) -> ApplyOutcome:
        if c.func.name not in c.func.pallet.inherent_calls:
            raise v.NoUnsignedValidator(f"{c.name} may not be submitted unsigned")
        info = c.info()
        self._check_limits(info, length, in_block=True)
        error = dispatch_transactional(c, NONE)
        if error is not None and info.dispatch_class is DispatchClass.MANDATORY:
            raise v.BadMandatory(f"the mandatory inherent {c.name} failed: {type(error).__name__}: {error}")
        self._note(info, length, error)
        return ApplyOutcome(info, 0, error)

    def _note(self, info: DispatchInfo, length: int, error: DispatchError | None) -> None:
        if error is None:
            self.env.events.append((self.env.phase, SystemEvent.ExtrinsicSuccess(info)))
        else:
            self.env.events.append((self.env.phase, SystemEvent.ExtrinsicFailed(error, info)))
        system.note_applied_extrinsic(length, info.weight, info.dispatch_class)

    # --- the transaction pool's check -------------------------------------------------------------------

    def validate_transaction(
        self, source: v.TransactionSource, raw: bytes, block_hash: bytes
    ) -> v.ValidTransaction:
        """Check `raw` for the pool as if it were included in the block after the one whose state this is."""
        with self._next_block(block_hash) as number:
            xt, c = decode_extrinsic(raw)
            if not xt.is_signed:
                return self._validate_unsigned(source, c)
            checked = self._check_signed(xt, c, len(raw), number, apply=False)
            s = xt.signature
            nonce = Account.get(s.signer).nonce
            requires = [s.signer + (s.nonce - 1).to_bytes(4, "little")] if s.nonce > nonce else []
            longevity = (1 << 64) - 1 if s.era.is_immortal else s.era.death(number) - number
            return v.ValidTransaction(
                priority=min(checked.fee, (1 << 64) - 1),
                requires=requires,
                provides=[s.signer + s.nonce.to_bytes(4, "little")],
                longevity=longevity,
                propagate=True,
            )

    def signature_checks(self, raws: Sequence[bytes], block_hash: bytes) -> list[SignatureCheck]:
        """The signatures `validate_transaction` would verify for each of `raws`, so that they can be verified
        ahead of it, elsewhere (the node does so on worker threads, filling the signature cache).

        An extrinsic that is unsigned or that the pool refuses before its signature check is left out: the
        pool's own check refuses it with its typed error as before.
        """
        checks = []
        with self._next_block(block_hash) as number:
            for raw in raws:
                try:
                    xt, _ = decode_extrinsic(raw)
                    s = xt.signature
                    if s is None:
                        continue
                    require_supported_scheme(xt)
                    checks.append(
                        SignatureCheck(s.signer, self._signed_payload(xt, number), s.signature, s.scheme)
                    )
                except (v.TransactionValidityError, UnsupportedSignerAddress):
                    continue
        return checks

    @contextmanager
    def _next_block(self, block_hash: bytes) -> Iterator[int]:
        """Run the body in a throwaway layer of the state, initialized as the block after `block_hash` (whose
        state this is), and give it that block's number: nothing the body writes survives."""
        number = Reader(self.state.get(system.Number.prefix) or b"\x00\x00\x00\x00").u32() + 1
        self.state.begin()
        try:
            with self._ext():
                system.initialize(number, block_hash)
                yield number
        finally:
            self.state.rollback()

    def _validate_unsigned(self, source: v.TransactionSource, c: Call) -> v.ValidTransaction:
        if (c.func.pallet.index, c.func.index) == TIMESTAMP_SET:
            raise v.MandatoryValidation(
                "Timestamp.set is an inherent; block authors add it, the pool does not"
            )
        if c.func.name != "report_equivocation" or c.func.pallet.name != "Staking":
            raise v.NoUnsignedValidator(f"{c.name} may not be submitted unsigned")
        try:
            offender, offence_id = check_equivocation(c.args[0])
        except DispatchError as e:
            raise v.Call(f"{type(e).__name__}: {e}") from None
        return v.ValidTransaction(
            priority=(1 << 64) - 1, provides=[b"equivocation" + offence_id], longevity=64, propagate=True
        )
