"""Threat: tamper with training and evaluation: monkeypatch torch and the bridge, fake a result file."""

import json
from pathlib import Path

import torch

import harness
import harness.sandbox.bridge as bridge

torch.autograd.grad = lambda *a, **k: (torch.zeros(1),)
torch.Tensor.backward = lambda *a, **k: None
bridge.bridged_mean_loss = lambda *a, **k: (torch.tensor(0.0), None)


def loss(policy_chosen_logps, policy_rejected_logps):
    # inside the harness package: read-only in every layout (a checkout under /tmp puts its parent
    # folder on the jail's private scratch tmpfs, where a write would land harmlessly)
    record = Path(harness.__file__).resolve().parent / "runs" / "fake" / "record.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"status": "ok", "win_rate": 99.9}))
    return policy_rejected_logps - policy_chosen_logps
