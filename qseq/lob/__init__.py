"""Limit-order-book data: LOBSTER files, level-3 reconstruction, synthetic books, features,
labels and windows for the shared models."""
