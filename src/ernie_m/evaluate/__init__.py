"""Evaluation: readers of the official formats, fine-tuning, metrics, retrieval, reports."""
