"""A full dispute on a real dev chain with real training, for checkpoint intervals k = 64 and 1,024.

For each k: a cheating solver perturbs the state in the middle of segment 1 of a 2k-step job; a
whistleblower replays, challenges and bisects; a referee recomputes the single step. Reports the wall time
from the challenge to the resolution, the on-chain moves (extrinsics) of the dispute, the bisection rounds
(which grow as log2 k) and whether the dispute landed on the perturbed step. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import threading
import time
from pathlib import Path

from chain.node.launcher import LocalNetwork
from chain.primitives.crypto import Keypair, dev_keypair
from compute_market.jobspec import AdamWSpec, ConstantSchedule, JobSpec, MlpSpec
from compute_market.worker import client as calls
from compute_market.worker.client import MarketNode
from compute_market.worker.datasets import Dataset, synthetic_digits
from compute_market.worker.roles import CheatPlan, Referee, Solver, Whistleblower

UNIT = 10**12
MOVE_EVENTS = ("Challenged", "StepRevealed", "Responded", "StepStatePublished", "RefereeVoted")


def run_dispute(k: int, workdir: Path) -> dict:
    steps = 2 * k
    cheat_after = k + k // 2 + 1
    with LocalNetwork(workdir / f"k{k}", chain="dev", idle_block_interval=0.3) as net:
        net.wait_height(1, timeout=60)
        addr = net.nodes[0].grpc_addr

        def node(name: str) -> MarketNode:
            return MarketNode(addr, Keypair.from_uri("//Alice//stash") if name == "referee" else dev_keypair(name))

        assert node("Charlie").send(calls.register_solver(1000 * UNIT), "register solver", wait=True)
        digits = synthetic_digits(seed=7, n_train=1024, n_test=256)
        data = Dataset(digits.x_train.reshape(-1, 64), digits.y_train, digits.x_test.reshape(-1, 64), digits.y_test)
        submitter = node("Ferdie")
        spec = JobSpec(model=MlpSpec(input_dim=64, hidden=(32,), num_classes=10),
                       dataset_hash=submitter.put_blob(data.to_bytes()),
                       optimizer=AdamWSpec(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
                       schedule=ConstantSchedule(), batch_size=32, steps=steps, seed=3, checkpoint_interval=k)
        stop = threading.Event()
        roles = [Solver(node("Charlie"), workdir / f"solver-{k}", cheat=CheatPlan(cheat_after)),
                 Whistleblower(node("Eve")), Referee(node("referee"))]
        threads = [threading.Thread(target=r.run, args=(stop,), daemon=True) for r in roles]
        for r in roles:
            r.poll_interval = 0.2
        for t in threads:
            t.start()
        assert submitter.send(calls.submit_job(spec.encode(), 100 * UNIT), "submit job", wait=True)
        reader = MarketNode(addr)
        job_id = max(j.id for j in reader.jobs())
        opened = resolved = None
        started = time.monotonic()
        try:
            while time.monotonic() - started < 900:
                disputes = reader.disputes(job_id)
                if disputes and opened is None:
                    opened = time.monotonic()
                if disputes and disputes[0].outcome:
                    resolved = time.monotonic()
                    break
                time.sleep(0.2)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        d = reader.disputes(job_id)[0]
        moves, move_bytes = 0, 0
        with reader.chain as c:
            head = c.info().best_number
            for n in range(1, head + 1):
                events = c.events(number=n).events
                for e in events:
                    if e.pallet == "ComputeMarket" and e.name in MOVE_EVENTS:
                        moves += 1
                        block = c.block(number=n)
                        move_bytes += len(block.extrinsics[e.extrinsic_index])
        return {"k": k, "steps": steps, "cheat_after_step": cheat_after, "outcome": d.outcome,
                "landed_on_step": d.lo, "exact": d.lo == cheat_after, "dispute_seconds": round(resolved - opened, 2),
                "onchain_moves": moves, "onchain_bytes": move_bytes, "bisection_rounds": math.ceil(math.log2(k)),
                "total_seconds": round(time.monotonic() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, nargs="*", default=[64, 1024])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dispute-") as tmp:
        runs = [run_dispute(k, Path(tmp)) for k in args.k]
    print(json.dumps({"benchmark": "market_dispute_end_to_end", "runs": runs}))


if __name__ == "__main__":
    main()
