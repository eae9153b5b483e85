"""Callbacks that write what a person looks at into the run folder."""
