"""``python -m litcls.stream --data SOURCE --out DIR``: write any ``--data`` source as a LitData optimized
dataset that ``train.py --data DIR`` (or the bucket it is copied to) trains from with the same split."""
