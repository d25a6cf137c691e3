"""Turn a job's final checkpoint into a plain model file, checked against the committed final model hash."""

from __future__ import annotations

import safetensors.torch

from compute_market.jobspec import JobSpec


class ModelExportError(ValueError):
    """The final checkpoint does not load, or its model does not hash to the committed final hash."""


def export_model(spec_bytes: bytes, final_checkpoint: bytes, final_hash: bytes) -> bytes:
    from compute_market.worker.models import build_model
    from compute_market.worker.trainer import CheckpointError, build_optimizer, load_checkpoint, model_hash
    spec = JobSpec.decode(spec_bytes)
    model = build_model(spec)
    try:
        load_checkpoint(spec, final_checkpoint, model, build_optimizer(spec, model))
    except CheckpointError as e:
        raise ModelExportError(f"the final checkpoint does not load: {e}") from None
    if model_hash(model) != final_hash:
        raise ModelExportError("the final checkpoint's model does not match the committed final model hash")
    return safetensors.torch.save({name: p.detach().contiguous() for name, p in sorted(model.named_parameters())})
