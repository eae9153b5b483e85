"""A sample table and its images as one LitData optimized dataset: written by ``python -m litcls.stream``, read
by ``train.py --data DIR|s3://...|gs://...`` (see docs/scale.md#streaming-from-object-storage)."""
