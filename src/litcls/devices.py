"""The devices a command names, as Lightning's Trainer takes them: one parser for ``train.py --devices`` and
``predict.py``/``demo.py``'s ``--device`` (no torch import)."""

from __future__ import annotations

from litcls.errors import UserError

DEVICE_KINDS = ("auto", "cpu", "cuda", "gpu", "mps")


def parse_devices(value: str) -> str | int | list[int]:
    """``auto`` -> ``auto``, ``2`` -> 2 devices, ``0,1`` -> device ids [0, 1] (``1,`` -> the one device id 1)."""
    if value.isdigit():
        return int(value)
    if "," in value:
        try:
            return [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise UserError(f"--devices: {value!r} is not a list of device ids such as 0,1") from None
    return value


def lightning_device(name: str) -> tuple[str, str | int | list[int]]:
    """``--device`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``) as a Trainer's accelerator and devices.

    ``cuda:1`` is the device with id 1, the one-id list ``1,`` of :func:`parse_devices`; a bare kind is one device.
    """
    kind, _, index = name.partition(":")
    if kind not in DEVICE_KINDS or (index and not (kind in ("cuda", "gpu") and index.isdigit())):
        raise UserError(f"--device: {name!r} is not one of auto, cpu, cuda, cuda:N, mps")
    return kind, parse_devices(f"{index},") if index else 1
