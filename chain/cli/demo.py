"""`gradchain demo`: a dev chain (or four validators), every market role, an honest job, a language model
trained and sampled, then a cheater caught.

Everything runs on this machine: node processes on loopback ports, the honest workers in this process, and
the cheating solver of the second job as its own process (`python -m compute_market.adversary`, which no
production module imports). The data is generated deterministically (8x8 synthetic digits, and sentences
from a small grammar for the language model); nothing is downloaded. The language model's section shows the
held-out loss of each committed checkpoint (recomputed here from the checkpoints on chain), the evaluation
the solver committed, and a sample the fetched model generates.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import click

from chain.cli.progress import ProgressDisplay
from chain.cli.watch import WatchTimeout, follow_job
from chain.node.launcher import LocalNetwork
from chain.primitives.crypto import Keypair, dev_keypair
from compute_market.jobspec import (
    AdamWSpec,
    ConstantSchedule,
    CosineSchedule,
    GptSpec,
    JobSpec,
    LanguageModelTask,
    MlpSpec,
)
from compute_market.worker import client as calls
from compute_market.worker.client import MarketNode
from compute_market.worker.states import DisputeOutcome, JobStatus, dispute_outcome, job_evaluation

DEMO_STEPS = 120
DEMO_INTERVAL = 20
CHEAT_AFTER_STEP = 70
UNIT = 10**12
LM_STEPS = 360
LM_SENTENCES = 2000
LM_TEXT_SEED = 5
LM_PROMPT = "the cat "
LM_SAMPLE_TOKENS = 120

PARTIES = {"submitter": "Ferdie", "solver": "Charlie", "verifier": "Dave", "whistleblower": "Eve"}


def _say(text: str = "") -> None:
    click.echo(text)


def demo_spec(dataset_hash: bytes, seed: int, steps: int = DEMO_STEPS):
    return JobSpec(
        model=MlpSpec(input_dim=64, hidden=(64,), num_classes=10),
        dataset_hash=dataset_hash,
        optimizer=AdamWSpec(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
        schedule=ConstantSchedule(),
        batch_size=64,
        steps=steps,
        seed=seed,
        checkpoint_interval=DEMO_INTERVAL,
    )


def lm_spec(dataset_hash: bytes) -> JobSpec:
    """The demo's language model: a small byte-level GPT on generated sentences."""
    return JobSpec(
        model=GptSpec(vocab_size=256, seq_len=32, d_model=48, num_heads=4, num_layers=2, ff_dim=96),
        dataset_hash=dataset_hash,
        optimizer=AdamWSpec(lr=3e-3, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0),
        schedule=CosineSchedule(min_lr_ratio=0.1, warmup_steps=20),
        batch_size=32,
        steps=LM_STEPS,
        seed=3,
        checkpoint_interval=LM_STEPS // 6,
        task=LanguageModelTask(),
    )


class Demo:
    def __init__(self, net: LocalNetwork, quiet_progress: bool):
        self.net = net
        addr = net.nodes[0].grpc_addr
        self.keys = {role: dev_keypair(name) for role, name in PARTIES.items()}
        self.keys["referee"] = Keypair.from_uri("//Alice//stash")
        self.nodes = {role: MarketNode(addr, kp) for role, kp in self.keys.items()}
        # A referee runs beside every validator, signing with the validator's stash key.
        self.referees = [
            MarketNode(n.grpc_addr, Keypair.from_uri(f"//{n.name}//stash")) for n in net.nodes if n.key
        ]
        self.reader = MarketNode(addr)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.quiet_progress = quiet_progress
        self.display = ProgressDisplay(sys.stdout)
        self.state_dir = Path(tempfile.mkdtemp(prefix="gradchain-demo-solver-"))
        self.cheater: subprocess.Popen | None = None

    def progress(self):
        if self.quiet_progress:
            return lambda label, done, total: None
        return self.display

    def start_workers(self, cheating: bool) -> None:
        """Every role in this process, the solver too unless `cheating`: then it is a cheater's process."""
        from compute_market.worker.roles import Referee, Solver, Verifier, Whistleblower  # torch

        kw = {"poll_interval": 0.3, "progress": self.progress()}
        roles = [
            Verifier(self.nodes["verifier"], **kw),
            Whistleblower(self.nodes["whistleblower"], **kw),
            *(Referee(node, **kw) for node in self.referees),
        ]
        if cheating:
            self.cheater = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "compute_market.adversary",
                    "worker",
                    "solver",
                    "--key",
                    f"//{PARTIES['solver']}",
                    "--node",
                    self.net.nodes[0].grpc_addr,
                    "--state-dir",
                    str(self.state_dir / "cheater"),
                    "--poll",
                    "0.3",
                    "--cheat-step",
                    str(CHEAT_AFTER_STEP),
                    "-l",
                    "warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL if self.quiet_progress else None,
            )
        else:
            roles.append(Solver(self.nodes["solver"], self.state_dir, **kw))
        for role in roles:
            t = threading.Thread(target=role.run, args=(self.stop,), name=role.name, daemon=True)
            t.start()
            self.threads.append(t)

    def balances(self) -> dict[str, int]:
        out = {}
        for role, kp in self.keys.items():
            a = self.reader.chain.account("0x" + kp.public.hex())
            out[role] = int(a.free) + int(a.reserved)
        return out

    def register(self) -> None:
        _say("Registering the solver (Charlie, stake 1,000) and the verifier (Dave) ...")
        assert self.nodes["solver"].send(calls.register_solver(1000 * UNIT), "register solver", wait=True)
        assert self.nodes["verifier"].send(calls.register_verifier(), "register verifier", wait=True)

    def submit(self, seed: int, payment: int) -> int:
        from compute_market.worker.datasets import Dataset, synthetic_digits  # torch

        digits = synthetic_digits(seed=7, n_train=2048, n_test=512)
        dataset = Dataset(
            digits.x_train.reshape(-1, 64), digits.y_train, digits.x_test.reshape(-1, 64), digits.y_test
        )
        blob = dataset.to_bytes()
        node = self.nodes["submitter"]
        dataset_hash = node.put_blob(blob)
        spec = demo_spec(dataset_hash, seed)
        before = {j.id for j in node.jobs()}
        assert node.send(calls.submit_job(spec.encode(), payment), "submit job", wait=True)
        job_id = max(j.id for j in node.jobs() if j.id not in before)
        _say(
            f"Ferdie submitted job {job_id}: an MLP on 8x8 synthetic digits, {DEMO_STEPS} steps, checkpoints "
            f"every {DEMO_INTERVAL}, payment {payment / UNIT:g} GRAD (spec 0x{spec.spec_hash.hex()[:16]}…)"
        )
        return job_id

    def submit_language_model(self, payment: int) -> int:
        from compute_market.worker.datasets import generated_text, text_stream  # torch

        stream = text_stream(generated_text(LM_TEXT_SEED, LM_SENTENCES))
        node = self.nodes["submitter"]
        spec = lm_spec(node.put_blob(stream.to_bytes()))
        before = {j.id for j in node.jobs()}
        assert node.send(calls.submit_job(spec.encode(), payment), "submit language-model job", wait=True)
        job_id = max(j.id for j in node.jobs() if j.id not in before)
        m = spec.model
        _say(
            f"Ferdie submitted job {job_id}: a {m.num_layers}-layer GPT-style decoder ({m.parameter_count:,} "
            f"parameters, byte tokens, context {m.seq_len}) on {stream.tokens_train.shape[0]:,} bytes of "
            f"generated sentences, {spec.steps} steps, payment {payment / UNIT:g} GRAD"
        )
        return job_id

    def language_model_report(self, job_id: int) -> dict:
        """The held-out loss of every committed checkpoint (falling as it trains), the evaluation on chain,
        and a sample generated by the fetched model."""
        import safetensors.torch  # torch
        import torch  # torch
        import torch.nn.functional as F  # torch

        from compute_market.architectures import Gpt  # torch
        from compute_market.model_io import generate_text, read_model  # torch
        from compute_market.worker.datasets import load_dataset  # torch
        from compute_market.worker.model_export import export_model  # torch
        from compute_market.worker.models import build_model  # torch

        job = self.reader.job(job_id)
        exported = read_model(
            export_model(
                bytes(job.spec),
                self.reader.blob(bytes(job.hash_list)),
                bytes(job.result_root),
                self.reader.blob(bytes(job.checkpoints[-1])),
                bytes(job.final_hash),
            )
        )
        spec = exported.spec
        data = load_dataset(self.reader.blob(spec.dataset_hash), spec)
        model = Gpt(spec.model).eval()
        losses = {}
        steps = [min(spec.steps, (i + 1) * spec.checkpoint_interval) for i in range(len(job.checkpoints))]
        states = {0: dict(build_model(spec).named_parameters())}  # step 0 follows from the spec
        for step, digest in zip(steps, job.checkpoints, strict=True):
            tensors = safetensors.torch.load(self.reader.blob(bytes(digest)))
            states[step] = {k[len("param/") :]: v for k, v in tensors.items() if k.startswith("param/")}
        for step, parameters in states.items():
            model.load_state_dict(parameters)
            with torch.no_grad():
                logits = model(data.x_test)
                losses[step] = float(
                    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), data.y_test.reshape(-1))
                )
        _say("  held-out loss at the start and at each committed checkpoint (nats per byte):")
        _say("    " + ", ".join(f"step {s}: {loss:.3f}" for s, loss in losses.items()))
        evaluation = job_evaluation(job)
        _say(
            f"  on chain: held-out loss {evaluation.loss:.4f}, perplexity {evaluation.perplexity:.3f}, "
            f"next byte right {evaluation.accuracy:.1%} of {evaluation.count:,} positions"
        )
        sample = generate_text(exported.model, LM_PROMPT, LM_SAMPLE_TOKENS)
        _say(f"  the fetched model continues {LM_PROMPT!r}:")
        for line in sample.splitlines()[:6]:
            _say(f"    | {line}")
        return {
            "job": job_id,
            "perplexity": evaluation.perplexity,
            "loss": evaluation.loss,
            "checkpoint_losses": losses,
            "sample": sample,
        }

    def follow(self, job_id: int, timeout: float = 300.0) -> JobStatus:
        """Print the job's and its disputes' moves until the job ends; the status it ended in."""
        try:
            return follow_job(self.reader, job_id, _say, interval=0.3, timeout=timeout)
        except WatchTimeout as e:
            raise click.ClickException(str(e)) from None

    def report_payouts(self, before: dict[str, int], after: dict[str, int]) -> None:
        _say("  who was paid what (free + reserved, GRAD; fees included):")
        for role in ("submitter", "solver", "verifier", "whistleblower", "referee"):
            delta = (after[role] - before[role]) / UNIT
            _say(f"    {role:<14}{PARTIES.get(role, 'Alice//stash'):<14}{delta:+.6f}")

    def accuracy(self, job_id: int) -> float:
        from compute_market.model_io import predict, read_model  # torch
        from compute_market.worker.datasets import load_dataset  # torch
        from compute_market.worker.model_export import export_model  # torch

        job = self.reader.job(job_id)
        model_bytes = export_model(
            bytes(job.spec),
            self.reader.blob(bytes(job.hash_list)),
            bytes(job.result_root),
            self.reader.blob(bytes(job.checkpoints[-1])),
            bytes(job.final_hash),
        )
        exported = read_model(model_bytes)  # the exported file, as a submitter loads it
        data = load_dataset(self.reader.blob(exported.spec.dataset_hash), exported.spec)
        predictions = predict(exported.model, data.x_test).argmax(dim=1)
        return float((predictions == data.y_test).float().mean())

    def stop_workers(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
        self.threads.clear()
        self.stop.clear()
        if self.cheater is not None:
            self.cheater.terminate()
            try:
                self.cheater.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.cheater.kill()
                self.cheater.wait()
            self.cheater = None

    def close(self) -> None:
        self.stop_workers()
        self.display.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)


@click.command()
@click.option(
    "--validators",
    type=click.Choice(["1", "4"]),
    default="1",
    show_default=True,
    help="1: a dev chain (Alice); 4: the local chain of Alice, Bob, Charlie and Dave.",
)
@click.option(
    "--base-path",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the chain data here (default: a temporary directory, removed afterwards).",
)
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
@click.option(
    "--json-summary",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the outcome as JSON to this file.",
)
def demo(validators: str, base_path: Path | None, no_progress: bool, json_summary: Path | None) -> None:
    """Run the whole market on a local chain: an honest job paid, a small language model trained and sampled,
    then a cheating solver caught and slashed."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    temp = None
    if base_path is None:
        temp = tempfile.mkdtemp(prefix="gradchain-demo-")
        base_path = Path(temp)
    chain = "dev" if validators == "1" else "local"
    summary: dict = {"chain": chain}
    _say(f"Starting a {chain} chain with {validators} validator(s) under {base_path} ...")
    try:
        with LocalNetwork(base_path, chain=chain, idle_block_interval=0.5) as net:
            net.wait_height(2, timeout=120)
            _say(f"Chain is producing blocks; gRPC at {net.nodes[0].grpc_addr}")
            d = Demo(net, no_progress)
            try:
                d.register()
                d.start_workers(cheating=False)
                _say("\n== 1. An honest job ==")
                before = d.balances()
                job1 = d.submit(seed=1, payment=100 * UNIT)
                status1 = d.follow(job1)
                acc = d.accuracy(job1)
                _say(
                    f"  the trained model scores {acc:.1%} on the held-out split (checked against the committed hash)"
                )
                d.report_payouts(before, d.balances())
                summary["honest"] = {"job": job1, "status": status1.name, "accuracy": acc}

                _say("\n== 2. A language model ==")
                started = time.monotonic()
                job_lm = d.submit_language_model(payment=100 * UNIT)
                status_lm = d.follow(job_lm)
                seconds = time.monotonic() - started
                summary["language_model"] = {"status": status_lm.name, "seconds": seconds}
                if status_lm is JobStatus.FINALIZED:
                    summary["language_model"].update(d.language_model_report(job_lm))
                _say(f"  submitted to finalized in {seconds:.0f} s")

                _say("\n== 3. A cheating solver ==")
                _say(
                    f"Charlie's solver now perturbs the model after step {CHEAT_AFTER_STEP} of the next job."
                )
                d.stop_workers()
                d.start_workers(cheating=True)
                before = d.balances()
                job2 = d.submit(seed=2, payment=100 * UNIT)
                status2 = d.follow(job2)
                disputes = d.reader.disputes(job2)
                won = [x for x in disputes if dispute_outcome(x) is DisputeOutcome.CHALLENGER_WON]
                if won:
                    _say(
                        f"  caught: the bisection landed on step {won[0].lo} -> {won[0].lo + 1}; the solver "
                        f"perturbed the state right after step {CHEAT_AFTER_STEP}"
                    )
                d.report_payouts(before, d.balances())
                summary["cheater"] = {
                    "job": job2,
                    "status": status2.name,
                    "landed_on_step": won[0].lo if won else None,
                    "cheat_after_step": CHEAT_AFTER_STEP,
                }
            finally:
                d.close()
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)
    if json_summary is not None:
        json_summary.write_text(json.dumps(summary, indent=2))
    ok = status1 is status_lm is JobStatus.FINALIZED and status2 is JobStatus.SLASHED
    _say("\nDemo complete." if ok else "\nDemo finished with unexpected outcomes.")
    if not ok:
        sys.exit(1)
