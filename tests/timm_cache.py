"""Pretrained timm weights staged where the Hugging Face cache expects them, so tests load them offline."""

from __future__ import annotations

from pathlib import Path

import torch

REVISION = "0123456789abcdef0123456789abcdef01234567"


def stage_timm_weights(hf_home: Path, name: str, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random weights of timm's ``name`` (1000 classes, its default size) saved as
    ``$HF_HOME/hub/models--timm--<id>/snapshots/<rev>/model.safetensors`` with ``refs/main``; returns them."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = timm.create_model(name)
    repo = model.pretrained_cfg["hf_hub_id"]
    folder = hf_home / "hub" / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(REVISION)
    snapshot = folder / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    state_dict = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state_dict, snapshot / "model.safetensors")
    return state_dict
