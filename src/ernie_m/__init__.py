"""ERNIE-M pre-training on XLM-R."""
