"""ComputeMarket (pallet index 6): escrowed training jobs, staked solvers, verifiers and bisection disputes.

Lifecycle (docs/market-protocol.md): `submit_job` escrows payment + verifier fee and reserves the submission bond ->
`on_initialize` assigns a solver `AssignmentDelay` blocks later -> the solver fetches and checks the dataset
(`report_dataset` if it is unusable) and `commit_result`s its step-hash root with the blobs it is bound to
(the hash list H[0..T], the checkpoints, the final model's hash) and the final model's evaluation -> a
verifier `attest`s the q segments sampled from the hash of the block after the commitment -> during
`ChallengeWindow` blocks anyone may `challenge` a segment (the bisection) or `challenge_artifact` a
committed artifact, the evaluation included (both games are in `dispute`) -> `finalize` (or the chain,
`FinalizeGrace` blocks after the window) pays out. Deadlines are in `lifecycle`, money in `economics`.
The commit, challenge, move and vote windows last their block counts and at least the chain time
(`Timestamp.now`) that `windows` derives from the spec's cost (compute_market/cost.py): a faster chain does
not shorten them. A spec whose one step is over the cost caps is refused at submission (`BadSpec`).

Calls (index: name): 0 register_solver, 1 add_stake, 2 unregister_solver, 3 withdraw_unbonded,
4 register_verifier, 5 submit_job, 6 cancel_job, 7 commit_result, 8 attest, 9 challenge, 10 reveal,
11 respond, 12 submit_step_state, 13 referee_vote, 14 finalize, 15 challenge_artifact, 16 report_dataset.

Economics: who receives what, in every outcome. "Lock" is the solver stake locked for the job
(`JobStakeLock + JobStakeRatio * payment`); a slashed amount goes `WinnerShare` to the winner and
`BurnShare` to the burn, and any rest (when the shares sum below 100%) stays with the loser. The
submitter's `SubmissionBond` comes back in every outcome but a rejected dataset.

  outcome                         submitter           solver                verifier            challenger(s)        burned
  cancelled before assignment     escrow refunded     -                     -                   -                    0
  honest completion (finalize)    pays payment + fee  + payment, lock freed + fee if it attested -                    0
                                                                            (else fee refunded)
  no commit by the deadline       escrow refunded     - lock                -                   -                    burn share
                                  + winner share                                                                     of lock
  solver at fault: a wrong step   escrow refunded     - lock                - whole bond if it  winner: bond back    burn share of
  or artifact (referee vote), or  (fee not paid)                            passed a segment    + winner share of    lock (+ bond)
  a missed reveal/state publish                                             whose step the      lock (+ verif. bond);
                                                                            vote proved wrong,  others: bonds back
                                                                            deregistered
  false challenge: referee vote,  unaffected          + winner share of     -                   - bond               burn share
  or missed response              (job continues)     the bond                                                       of bond
  dataset proven unusable         - bond, escrow      + winner share of     -                   -                    burn share
  (report_dataset upheld)         refunded            the bond, lock freed                                           of the bond
  false dataset report            + winner share of   - report bond, new    -                   -                    burn share
                                  the report bond     commit deadline                                                of the bond
  artifact claimed unavailable,   unaffected          unaffected (window    -                   bond back            0
  then served and valid                               reopens)
  referees reach no quorum        unaffected          unaffected            -                   bond back            0
  no attestation in the window    fee refunded        paid as usual         nothing             -                    0

A verifier that reports a failed segment opens a dispute on it as challenger, with a challenger bond.
Total issuance changes only by the `burned` amounts of `ComputeMarket.Slashed` events.
"""

from __future__ import annotations

from compute_market.pallet import calls, dispute, hooks, query
from compute_market.pallet.types import (
    STORAGE,
    Dispute,
    DisputeOutcome,
    DisputePhase,
    Job,
    JobStatus,
    MarketConfig,
    MarketError,
    MarketEvent,
    Resolution,
    Solver,
)
from runtime.frame.pallet import Constant, Pallet
from runtime.frame.types import U32, U64, U128, Perbill

CALLS = tuple(sorted(calls.CALLS + dispute.CALLS, key=lambda c: c.index))

PALLET = Pallet(
    name="ComputeMarket",
    calls_path="pallet_compute_market::pallet::Call",
    calls=CALLS,
    events=MarketEvent,
    errors=MarketError,
    storage=STORAGE,
    config=MarketConfig,
    constants=(
        Constant(
            "MinSolverStake", U128, lambda c: c.min_solver_stake, "Least stake a solver registers with."
        ),
        Constant("VerifierFee", U128, lambda c: c.verifier_fee, "Escrowed per job for its verifier."),
        Constant("VerifierBond", U128, lambda c: c.verifier_bond, "Reserved by each verifier."),
        Constant(
            "ChallengerBond",
            U128,
            lambda c: c.challenger_bond,
            "Reserved per dispute by its challenger (and per dataset report by the solver).",
        ),
        Constant(
            "SubmissionBond",
            U128,
            lambda c: c.submission_bond,
            "Reserved per job by its submitter; slashed if the dataset is proven unusable.",
        ),
        Constant("SampleSegments", U32, lambda c: c.sample_segments, "Segments a verifier replays (q)."),
        Constant(
            "ChallengeWindow",
            U32,
            lambda c: c.challenge_window,
            "Blocks after a commitment open to challenges.",
        ),
        Constant("MoveDeadline", U32, lambda c: c.move_deadline, "Blocks a party has for each dispute move."),
        Constant("VotePeriod", U32, lambda c: c.vote_period, "Blocks the referees have to reach a quorum."),
        Constant(
            "WinnerShare", Perbill, lambda c: c.winner_share, "Share of a slashed amount paid to the winner."
        ),
        Constant("BurnShare", Perbill, lambda c: c.burn_share, "Share of a slashed amount burned."),
        Constant(
            "RefereeQuorum",
            Perbill,
            lambda c: c.referee_quorum,
            "Referee stake share that decides a dispute.",
        ),
        Constant(
            "TimeSafety", U32, lambda c: c.time_safety, "Factor on the expected seconds of a window's work."
        ),
        Constant(
            "ChallengeFloorMs",
            U64,
            lambda c: c.challenge_floor_ms,
            "Least chain time (ms) of a challenge window.",
        ),
        Constant("MoveFloorMs", U64, lambda c: c.move_floor_ms, "Least chain time (ms) of a dispute move."),
        Constant("VoteFloorMs", U64, lambda c: c.vote_floor_ms, "Least chain time (ms) of a vote period."),
        Constant(
            "CommitFloorMs", U64, lambda c: c.commit_floor_ms, "Least chain time (ms) to commit a result."
        ),
    ),
    on_initialize=hooks.on_initialize,
)

__all__ = [
    "PALLET",
    "CALLS",
    "Dispute",
    "DisputeOutcome",
    "DisputePhase",
    "Job",
    "JobStatus",
    "MarketConfig",
    "MarketError",
    "MarketEvent",
    "Resolution",
    "Solver",
    "query",
]
