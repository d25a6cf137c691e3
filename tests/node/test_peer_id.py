"""The node key as a libp2p PeerId, the form Substrate clients read from system_localPeerId and system_peers."""

import base58

from chain.network.peers import libp2p_peer_id


def test_peer_id_matches_libp2ps_ed25519_vector():
    # The Ed25519 key of the libp2p peer-id spec's test vectors, and the PeerId rust-libp2p derives for it.
    key = bytes.fromhex("1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")
    assert libp2p_peer_id(key) == "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"


def test_peer_id_is_the_identity_multihash_of_the_protobuf_key():
    key = bytes(range(32))
    decoded = base58.b58decode(libp2p_peer_id(key))
    assert decoded[:2] == b"\x00\x24" and decoded[2:6] == b"\x08\x01\x12\x20" and decoded[6:] == key
