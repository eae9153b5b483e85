"""``python -m litcls.stream``: the entry point only; the command is :mod:`litcls.cli.stream`."""
