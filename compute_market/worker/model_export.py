"""Turn a job's final checkpoint into a plain model file, delivered only if it is bound to the commitment.

The model is the state H[T] commits to: the hash list must decode under the committed result root, the last
checkpoint must be the valid state at step T with that H[T], and its model must hash to the committed final
hash (`audit.check_hash_list`, `audit.check_final_model`). Nothing is trained, so neither the dataset nor an
exact-mode machine is needed. The file loads anywhere with `compute_market.model_io.load_model`.
"""

from __future__ import annotations

import safetensors.torch

from compute_market.jobspec import JobSpec
from compute_market.model_io import model_metadata
from compute_market.worker.audit import ArtifactFault, check_final_model, check_hash_list


class ModelExportError(ValueError):
    """The job's artifacts do not bind the final checkpoint's model to its commitment; the message says which
    check failed."""


def export_model(
    spec_bytes: bytes, hash_list: bytes, result_root: bytes, final_checkpoint: bytes, final_hash: bytes
) -> bytes:
    """The model at step T as safetensors (parameters by name, with the spec and architecture in the metadata
    that `compute_market.model_io` reads), after every check of the module docstring."""
    spec = JobSpec.decode(spec_bytes)
    try:
        hashes = check_hash_list(hash_list, spec.steps, result_root)
    except ArtifactFault as e:
        raise ModelExportError(f"hash list check failed: {e}") from None
    try:
        model = check_final_model(spec, None, final_checkpoint, hashes, final_hash)
    except ArtifactFault as e:
        raise ModelExportError(f"final model check failed: {e}") from None
    return safetensors.torch.save(
        {name: p.detach().contiguous() for name, p in sorted(model.named_parameters())},
        metadata=model_metadata(spec, final_hash),
    )
