"""Retrieval quality of the embedding providers on a labelled set (see run.py)."""
