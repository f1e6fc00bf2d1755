"""Models: the name registry (torch-free) and the generic Hugging Face adapter."""
