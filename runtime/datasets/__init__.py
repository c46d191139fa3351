"""Datasets for training: memories -> raw pairs -> clean -> verified (frozen, with a signed receipt).

The trainer gets a dataset only through `firewall.open_for_training`, which fails closed.
"""
