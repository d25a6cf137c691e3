"""A real node process with faults injected, for the fault suite only (never imported by production code).

    python -m tests.faults.adversary_node node [--fault-file PATH] [--byzantine equivocate] NODE-ARGS...

runs `gradchain node NODE-ARGS...` with two additions (see `fault_injection`):
- `--fault-file PATH`: the node polls PATH and drops all traffic with the node keys it lists, which
  partitions a network of real processes;
- `--byzantine equivocate`: the validator also signs and gossips a conflicting prevote at every
  `EQUIVOCATE_EVERY`-th height, bypassing its signer guard.
Both are wrappers: a subclass of the production `Node` and of its `ConsensusService`, installed for this
process before the command line runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from chain.cli import main as gradchain
from chain.node import service
from chain.node.consensus_service import ConsensusService, encode_consensus
from consensus.types import SignedProposal, SignedVote
from tests.faults.fault_injection import BYZANTINE_MODES, conflicting_prevote, poll_fault_file


class EquivocatingConsensus(ConsensusService):
    def broadcast(self, message: SignedProposal | SignedVote) -> None:
        super().broadcast(message)
        node = self.node
        conflict = conflicting_prevote(message, node.validator_key, node.spec.genesis_hash)
        if conflict is not None:
            node.spawn(node.network.gossip_consensus(encode_consensus(conflict)))


def adversary_node(fault_file: Path | None, byzantine: str | None) -> type[service.Node]:
    class AdversaryNode(service.Node):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if byzantine == "equivocate":
                if self.validator_key is None:
                    raise SystemExit("--byzantine equivocate needs --validator")
                self.consensus = EquivocatingConsensus(self)
                self.evidence.validator_set_for = self.consensus.validator_set_for

        async def start(self) -> None:
            await super().start()
            if fault_file is not None:
                self.spawn(poll_fault_file(fault_file, self.network.blocked_keys))

    return AdversaryNode


def _pop_option(argv: list[str], name: str) -> str | None:
    if name not in argv:
        return None
    i = argv.index(name)
    if i + 1 >= len(argv):
        raise SystemExit(f"{name} needs a value")
    value = argv[i + 1]
    del argv[i : i + 2]
    return value


def main(argv: list[str]) -> None:
    fault_file = _pop_option(argv, "--fault-file")
    byzantine = _pop_option(argv, "--byzantine")
    if byzantine is not None and byzantine not in BYZANTINE_MODES:
        raise SystemExit(f"--byzantine must be one of {', '.join(BYZANTINE_MODES)}")
    service.Node = adversary_node(Path(fault_file) if fault_file else None, byzantine)  # what run_node builds
    gradchain.main(args=argv, prog_name="gradchain")


if __name__ == "__main__":
    main(sys.argv[1:])
