"""What a run writes for a person to read: per-class numbers, figures and the report page.

Matplotlib is imported inside functions only, so importing this package (and ``train.py --help``) stays fast.
"""
