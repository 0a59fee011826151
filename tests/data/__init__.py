"""Tests of the data layer (qseq.data)."""
