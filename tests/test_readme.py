"""README's examples stay true: its complete job spec parses as the spec it documents."""

from __future__ import annotations

import json
from pathlib import Path

from compute_market.jobspec import AdamWSpec, CosineSchedule, JobSpec, TrainingOptions

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_job_spec_is_a_valid_spec_with_every_section():
    text = README.read_text()
    start = text.index('```json\n{\n  "version": 1') + len("```json\n")
    obj = json.loads(text[start : text.index("```", start)])
    obj["dataset_hash"] = "0x" + "ab" * 32  # README shows a placeholder: job submit fills it in
    spec = JobSpec.from_obj(obj)
    assert isinstance(spec.optimizer, AdamWSpec) and isinstance(spec.schedule, CosineSchedule)
    assert spec.training == TrainingOptions(max_grad_norm=1.0, label_smoothing=0.1)
    assert JobSpec.from_json(spec.to_json()) == spec
