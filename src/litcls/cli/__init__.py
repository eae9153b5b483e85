"""The command lines of ``train.py``, ``predict.py`` and ``demo.py``: flags in, one line per mistake out.

Heavy libraries are imported only after the flags are parsed, so ``--help`` and a mistyped flag answer at once.
"""
