"""Talking to a container registry: URLs, digests, manifests and configs, tokens and pull limits."""
