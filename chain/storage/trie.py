"""The state trie: a 16-ary Merkle-Patricia trie whose root is the header's `stateRoot`.

Why a trie at all, when the flat table already answers reads: the root commits to the whole state in
32 bytes, so headers can carry it, light clients can check read proofs against it, and a node can read
any older state that is still within the pruning window.

Shape. Keys are arbitrary byte strings walked nibble by nibble (high nibble first). There are two node
kinds, as in Substrate's trie layout V0 ("nibbled branch"): a branch carries its own partial key, so no
separate extension nodes exist. Every child is referenced by the blake2-256 hash of its encoding; nothing
is inlined, which keeps proofs and reference counting uniform.

Node encoding (SCALE, canonical; decoding rejects anything else):

    Empty           0x00                                            (only as the empty trie)
    Leaf            0x01 ++ partial ++ Compact(len(value)) ++ value
    Branch          0x02 ++ partial ++ bitmap ++ child_hash*
    Branch+value    0x03 ++ partial ++ bitmap ++ child_hash* ++ Compact(len(value)) ++ value

    partial   = Compact(nibble count) ++ nibbles packed two per byte, high nibble first; an odd count
                is padded with one zero nibble in the low half of the last byte.
    bitmap    = u16 little-endian; bit i set means child i (nibble value i) is present; never 0.
    child_hash = 32 bytes, present children in ascending nibble order.

The root of the empty trie is `EMPTY_ROOT = blake2_256(0x00)`. Compact lengths above 2^30 - 1 are rejected
(no storage value or key is that large).

Inside this module nibble paths are lowercase hex strings: slicing, comparing and sorting `str` is what
CPython does fastest, and hex order is byte order. Nodes in flight are tuples
`(partial: str, children: list[bytes | None] | None, value: bytes | None)`; `children is None` marks a
leaf.

Updates are batched (`Trie.apply`): the changes are sorted once and pushed down the trie together, so
every node on a shared upper path is decoded, rewritten and hashed once per batch, not once per key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Protocol

from chain.primitives.codec import DecodeError, encode_compact

_blake2b = hashlib.blake2b

EMPTY_NODE = b"\x00"
EMPTY_ROOT = _blake2b(EMPTY_NODE, digest_size=32).digest()

TAG_EMPTY = 0
TAG_LEAF = 1
TAG_BRANCH = 2
TAG_BRANCH_WITH_VALUE = 3

_MAX_PARTIAL_NIBBLES = (1 << 30) - 1
_HEX = "0123456789abcdef"
_NIBBLE = {c: i for i, c in enumerate(_HEX)}

Node = tuple  # (partial: str, children: list[bytes | None] | None, value: bytes | None)


class TrieError(Exception):
    """Base of the trie's own failures."""


class NodeDecodeError(DecodeError):
    """Bytes are not the canonical encoding of a trie node."""


class MissingNode(TrieError):
    """A node the walk needs is not in the node store: the state was pruned, or never stored."""

    def __init__(self, node_hash: bytes):
        super().__init__(f"trie node {node_hash.hex()} is not in the node store")
        self.node_hash = node_hash


class NodeStore(Protocol):
    """Where encoded nodes are read from, by hash. A plain `dict[bytes, bytes]` is one."""

    def get(self, node_hash: bytes, /) -> bytes | None: ...


# ---------------------------------------------------------------------------------------------- codec


def _compact_len(n: int) -> bytes:
    return bytes((n << 2,)) if n < 64 else encode_compact(n)


def _encode_partial(partial: str) -> bytes:
    n = len(partial)
    packed = bytes.fromhex(partial + "0") if n & 1 else bytes.fromhex(partial)
    return (bytes((n << 2,)) if n < 64 else encode_compact(n)) + packed


def encode_node(partial: str, children: list[bytes | None] | None, value: bytes | None) -> bytes:
    """The canonical encoding of one node (see the module docstring)."""
    if children is None:
        return b"\x01" + _encode_partial(partial) + _compact_len(len(value)) + value
    bitmap = 0
    hashes = []
    bit = 1
    for child in children:
        if child is not None:
            bitmap |= bit
            hashes.append(child)
        bit <<= 1
    if value is None:
        return b"\x02" + _encode_partial(partial) + bitmap.to_bytes(2, "little") + b"".join(hashes)
    return (
        b"\x03"
        + _encode_partial(partial)
        + bitmap.to_bytes(2, "little")
        + b"".join(hashes)
        + _compact_len(len(value))
        + value
    )


def _compact_at(data: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos >= end:
        raise NodeDecodeError(f"need a compact length at offset {pos}, the node ends there")
    b0 = data[pos]
    mode = b0 & 3
    if mode == 0:
        return b0 >> 2, pos + 1
    if mode == 1:
        if pos + 2 > end:
            raise NodeDecodeError(f"two-byte compact at offset {pos} runs past the node's end")
        value = (b0 | data[pos + 1] << 8) >> 2
        if value < 1 << 6:
            raise NodeDecodeError(f"non-canonical compact at offset {pos}: two bytes for {value}")
        return value, pos + 2
    if mode == 2:
        if pos + 4 > end:
            raise NodeDecodeError(f"four-byte compact at offset {pos} runs past the node's end")
        value = int.from_bytes(data[pos : pos + 4], "little") >> 2
        if value < 1 << 14:
            raise NodeDecodeError(f"non-canonical compact at offset {pos}: four bytes for {value}")
        return value, pos + 4
    raise NodeDecodeError(f"compact length at offset {pos} is 2^30 or more, too large for a trie node")


def decode_node(data: bytes) -> Node | None:
    """Decode one node; `None` for the empty node. Raises only `NodeDecodeError`."""
    if not isinstance(data, bytes):
        raise NodeDecodeError(f"a trie node is bytes, not {type(data).__name__}")
    end = len(data)
    if end == 0:
        raise NodeDecodeError("empty input is not a trie node")
    tag = data[0]
    if tag == TAG_EMPTY:
        if end != 1:
            raise NodeDecodeError(f"{end - 1} trailing bytes after the empty node")
        return None
    if tag > TAG_BRANCH_WITH_VALUE:
        raise NodeDecodeError(f"unknown node tag {tag:#04x}")
    nibbles, pos = _compact_at(data, 1, end)
    packed_len = (nibbles + 1) >> 1
    if pos + packed_len > end:
        raise NodeDecodeError(f"partial key of {nibbles} nibbles runs past the node's end ({end} bytes)")
    partial = data[pos : pos + packed_len].hex()
    pos += packed_len
    if nibbles & 1:
        if partial[-1] != "0":
            raise NodeDecodeError("partial key of odd length has a non-zero padding nibble")
        partial = partial[:-1]
    if tag == TAG_LEAF:
        value_len, pos = _compact_at(data, pos, end)
        if pos + value_len != end:
            raise NodeDecodeError(
                f"leaf value of {value_len} bytes does not end the node ({end - pos} bytes remain)"
            )
        return partial, None, data[pos:]
    if pos + 2 > end:
        raise NodeDecodeError("branch node ends before its child bitmap")
    bitmap = data[pos] | data[pos + 1] << 8
    pos += 2
    if bitmap == 0:
        raise NodeDecodeError("branch node has an empty child bitmap")
    if pos + 32 * bitmap.bit_count() > end:
        raise NodeDecodeError(
            f"branch node lists {bitmap.bit_count()} children but has only {end - pos} bytes for their hashes"
        )
    children: list[bytes | None] = [None] * 16
    for i in range(16):
        if bitmap >> i & 1:
            children[i] = data[pos : pos + 32]
            pos += 32
    if tag == TAG_BRANCH:
        if pos != end:
            raise NodeDecodeError(f"{end - pos} trailing bytes after a branch node")
        return partial, children, None
    value_len, pos = _compact_at(data, pos, end)
    if pos + value_len != end:
        raise NodeDecodeError(
            f"branch value of {value_len} bytes does not end the node ({end - pos} bytes remain)"
        )
    return partial, children, data[pos:]


def _common_prefix(a: str, b: str, start: int) -> int:
    """How many characters `a[start:]` and `b` share at their start."""
    n = min(len(a) - start, len(b))
    i = 0
    while i < n and a[start + i] == b[i]:
        i += 1
    return i


# ---------------------------------------------------------------------------------------------- update


class TrieUpdate:
    """The result of a batch update; unpacks as `(root, new_nodes, dead_nodes)`.

    `new_nodes` maps hash -> encoding for every node written. `dead_nodes` lists the hash of every node
    reference the old trie had and the new one lacks, and `inserted` every reference the new one gained;
    both count multiplicity (identical subtrees can sit at two places), which reference-counted pruning
    needs: old references - dead + inserted = new references, exactly.
    """

    __slots__ = ("root", "new_nodes", "dead_nodes", "inserted")

    def __init__(
        self, root: bytes, new_nodes: dict[bytes, bytes], dead_nodes: list[bytes], inserted: list[bytes]
    ):
        self.root = root
        self.new_nodes = new_nodes
        self.dead_nodes = dead_nodes
        self.inserted = inserted

    def __iter__(self) -> Iterator:
        return iter((self.root, self.new_nodes, self.dead_nodes))


class _Batch:
    """One `apply` call's working state: the sorted changes and the nodes written and retired so far."""

    __slots__ = ("store", "keys", "values", "new_nodes", "dead", "inserted")

    def __init__(self, store: NodeStore, keys: list[str], values: list[bytes | None]):
        self.store = store
        self.keys = keys
        self.values = values
        self.new_nodes: dict[bytes, bytes] = {}
        self.dead: list[bytes] = []
        self.inserted: list[bytes] = []

    def load(self, node_hash: bytes) -> Node:
        data = self.store.get(node_hash)
        if data is None:
            raise MissingNode(node_hash)
        node = decode_node(data)
        if node is None:
            raise NodeDecodeError(f"node {node_hash.hex()} is the empty node, which is never a child")
        self.dead.append(node_hash)
        return node

    def store_node(self, node: Node) -> bytes:
        encoded = encode_node(node[0], node[1], node[2])
        node_hash = _blake2b(encoded, digest_size=32).digest()
        self.new_nodes[node_hash] = encoded
        self.inserted.append(node_hash)
        return node_hash

    def update(self, slot: bytes | Node | None, depth: int, lo: int, hi: int) -> Node | None:
        """Apply changes[lo:hi] (all sharing keys[lo][:depth]) to the subtree in `slot`."""
        if slot is None:
            return self.build(self.keys, self.values, lo, hi, depth)
        partial, children, value = self.load(slot) if type(slot) is bytes else slot
        if children is None:
            return self.merge_into_leaf(partial, value, depth, lo, hi)
        keys = self.keys
        first, last = keys[lo], keys[hi - 1]
        end = depth + len(partial)
        if first[depth:end] == partial and last[depth:end] == partial:
            children = list(children)
        else:
            # Some changed key leaves this branch's partial: split it where they diverge.
            cut = min(_common_prefix(first, partial, depth), _common_prefix(last, partial, depth))
            inner = (partial[cut + 1 :], children, value)
            children = [None] * 16
            children[_NIBBLE[partial[cut]]] = inner
            partial, value, end = partial[:cut], None, depth + cut
        i = lo
        if len(keys[i]) == end:
            value = self.values[i]
            i += 1
        while i < hi:
            nibble = keys[i][end]
            j = i + 1
            while j < hi and keys[j][end] == nibble:
                j += 1
            index = _NIBBLE[nibble]
            children[index] = self.update(children[index], end + 1, i, j)
            i = j
        return self.normalize(partial, children, value)

    def merge_into_leaf(self, partial: str, value: bytes, depth: int, lo: int, hi: int) -> Node | None:
        leaf_key = self.keys[lo][:depth] + partial
        keys: list[str] = []
        values: list[bytes | None] = []
        placed = False
        for i in range(lo, hi):
            key = self.keys[i]
            if not placed and leaf_key <= key:
                placed = True
                if leaf_key != key:
                    keys.append(leaf_key)
                    values.append(value)
            keys.append(key)
            values.append(self.values[i])
        if not placed:
            keys.append(leaf_key)
            values.append(value)
        return self.build(keys, values, 0, len(keys), depth)

    def build(self, keys: list[str], values: list[bytes | None], lo: int, hi: int, depth: int) -> Node | None:
        """A fresh subtree holding the present (non-None) entries of keys[lo:hi]."""
        if None in values[lo:hi]:
            pairs = [(k, v) for k, v in zip(keys[lo:hi], values[lo:hi], strict=True) if v is not None]
            keys = [k for k, _ in pairs]
            values = [v for _, v in pairs]
            lo, hi = 0, len(pairs)
            if not pairs:
                return None
        return self._build(keys, values, lo, hi, depth)

    def _build(self, keys: list[str], values: list[bytes], lo: int, hi: int, depth: int) -> Node:
        first = keys[lo]
        if hi - lo == 1:
            return first[depth:], None, values[lo]
        end = depth + _common_prefix(first, keys[hi - 1][depth:], depth)
        children: list[bytes | None] = [None] * 16
        value = None
        i = lo
        if len(first) == end:
            value = values[i]
            i += 1
        while i < hi:
            nibble = keys[i][end]
            j = i + 1
            while j < hi and keys[j][end] == nibble:
                j += 1
            children[_NIBBLE[nibble]] = self.store_node(self._build(keys, values, i, j, end + 1))
            i = j
        return first[depth:end], children, value

    def normalize(self, partial: str, children: list, value: bytes | None) -> Node | None:
        """Restore the canonical shape: no childless branch, no valueless branch with one child."""
        count = 0
        only = 0
        for i in range(16):
            if children[i] is not None:
                count += 1
                only = i
        if count == 0:
            return None if value is None else (partial, None, value)
        if count == 1 and value is None:
            child = children[only]
            child = self.load(child) if type(child) is bytes else child
            return partial + _HEX[only] + child[0], child[1], child[2]
        for i in range(16):
            if type(children[i]) is tuple:
                children[i] = self.store_node(children[i])
        return partial, children, value


# ---------------------------------------------------------------------------------------------- trie


class Trie:
    """Reads and batch-updates tries whose nodes live in `store`; the trie itself is just a root hash."""

    def __init__(self, store: NodeStore):
        self.store = store

    def _node(self, node_hash: bytes) -> Node | None:
        data = self.store.get(node_hash)
        if data is None:
            raise MissingNode(node_hash)
        return decode_node(data)

    def apply(self, root: bytes, changes: Mapping[bytes, bytes | None]) -> TrieUpdate:
        """Set (value) or delete (None) many keys at once; nothing is written to the store.

        The caller persists `new_nodes` (and, if it prunes, accounts `inserted` and `dead_nodes`).
        """
        if not changes:
            return TrieUpdate(root, {}, [], [])
        items = sorted((key.hex(), value) for key, value in changes.items())
        batch = _Batch(self.store, [k for k, _ in items], [v for _, v in items])
        node = batch.update(None if root == EMPTY_ROOT else root, 0, 0, len(items))
        new_root = EMPTY_ROOT if node is None else batch.store_node(node)
        return TrieUpdate(new_root, batch.new_nodes, batch.dead, batch.inserted)

    def get(self, root: bytes, key: bytes) -> bytes | None:
        """The value under `key` in the trie at `root`; raises `MissingNode` if a node was pruned."""
        node_hash = None if root == EMPTY_ROOT else root
        path = key.hex()
        pos = 0
        while node_hash is not None:
            node = self._node(node_hash)
            if node is None:
                return None
            partial, children, value = node
            if children is None:
                return value if path[pos:] == partial else None
            end = pos + len(partial)
            if path[pos:end] != partial:
                return None
            if len(path) == end:
                return value
            node_hash = children[_NIBBLE[path[end]]]
            pos = end + 1
        return None

    def iter_prefix(self, root: bytes, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) whose key starts with `prefix`, in ascending key order."""
        if root == EMPTY_ROOT:
            return
        target = prefix.hex()
        node_hash, path = root, ""
        while True:
            node = self._node(node_hash)
            if node is None:
                return
            full = path + node[0]
            if full.startswith(target):
                yield from self._iter_subtree(node, path)
                return
            if not target.startswith(full) or node[1] is None:
                return
            nibble = target[len(full)]
            node_hash = node[1][_NIBBLE[nibble]]
            if node_hash is None:
                return
            path = full + nibble

    def _iter_subtree(self, node: Node, path: str) -> Iterator[tuple[bytes, bytes]]:
        partial, children, value = node
        full = path + partial
        if value is not None:
            yield bytes.fromhex(full), value
        if children is not None:
            for i in range(16):
                if children[i] is not None:
                    child = self._node(children[i])
                    if child is not None:
                        yield from self._iter_subtree(child, full + _HEX[i])


def ordered_trie_root(values: list[bytes]) -> bytes:
    """Root of the trie mapping SCALE Compact(i) -> values[i]: a block's extrinsics root."""
    return Trie({}).apply(EMPTY_ROOT, {encode_compact(i): v for i, v in enumerate(values)}).root
