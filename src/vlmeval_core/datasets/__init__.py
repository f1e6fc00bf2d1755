"""Datasets: the registry (torch-free), VLMEvalKit TSV loading, prompts and the Shapes benchmark."""
