"""Video benchmarks: VLMEvalKit's frame sampling (sampling.py) and decoding (decode.py)."""
