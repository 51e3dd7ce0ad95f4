"""Model backends: the protocol, the llama.cpp adapter, replay and a fake for tests."""

from tater_graph.model.base import GenerationRequest, ModelBackend, TokenLogprobs

__all__ = ["GenerationRequest", "ModelBackend", "TokenLogprobs"]
