"""HobbitClient: the hobbit.v1.Hobbit RPCs with keyword arguments instead of messages."""
from __future__ import annotations

import dataclasses
from typing import Iterator, Optional, Sequence

import grpc

from hobbit_client.proto import hobbit_pb2, hobbit_pb2_grpc

# Keyword arguments of generate() that map one to one onto optional GenerateRequest fields.
_SAMPLING_FIELDS = (
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "max_tokens",
)


@dataclasses.dataclass
class Completion:
    """A whole generation: the text, the token ids and the stream's Final message."""

    text: str
    token_ids: list
    final: hobbit_pb2.Final


class HobbitClient:
    """One channel to hobbitd. Thread-safe (gRPC channels and stubs are)."""

    def __init__(self, target: str, *, timeout: Optional[float] = None,
                 channel: Optional[grpc.Channel] = None):
        self._channel = channel or grpc.insecure_channel(target)
        self._stub = hobbit_pb2_grpc.HobbitStub(self._channel)
        self._timeout = timeout

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "HobbitClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Waits until the channel connects (the model may still load: see model_info)."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    @staticmethod
    def make_request(prompt: Optional[str] = None, *, tokens: Optional[Sequence[int]] = None,
                     messages: Optional[Sequence[dict]] = None, stop: Sequence[str] = (),
                     stop_token_ids: Sequence[int] = (), ignore_eos: bool = False,
                     top_logprobs: int = 0, request_id: str = "",
                     **sampling) -> hobbit_pb2.GenerateRequest:
        """Builds a GenerateRequest from exactly one of prompt, tokens or messages."""
        if sum(x is not None for x in (prompt, tokens, messages)) != 1:
            raise ValueError("give exactly one of prompt, tokens or messages")
        unknown = set(sampling) - set(_SAMPLING_FIELDS)
        if unknown:
            raise TypeError(f"unknown argument(s): {', '.join(sorted(unknown))}")
        request = hobbit_pb2.GenerateRequest(
            stop=list(stop), stop_token_ids=list(stop_token_ids), ignore_eos=ignore_eos,
            top_logprobs=top_logprobs, request_id=request_id,
            **{k: v for k, v in sampling.items() if v is not None})
        if prompt is not None:
            request.text = prompt
        elif tokens is not None:
            request.tokens.ids.extend(tokens)
        else:
            for message in messages:
                request.chat.messages.add(role=message["role"], content=message["content"])
        return request

    def generate(self, prompt: Optional[str] = None, *, timeout: Optional[float] = None,
                 **kwargs) -> Iterator[hobbit_pb2.GenerateResponse]:
        """Streams the responses (chunks, then one final) of one generation.

        Raises grpc.RpcError with the server's status (INVALID_ARGUMENT names the field).
        """
        request = self.make_request(prompt, **kwargs)
        return self._stub.Generate(request, timeout=timeout or self._timeout)

    def stream_text(self, prompt: Optional[str] = None, **kwargs) -> Iterator[str]:
        """Yields the text deltas of one generation as they arrive."""
        for response in self.generate(prompt, **kwargs):
            if response.HasField("chunk") and response.chunk.text:
                yield response.chunk.text

    def complete(self, prompt: Optional[str] = None, **kwargs) -> Completion:
        """Runs one generation to the end."""
        text, ids, final = [], [], None
        for response in self.generate(prompt, **kwargs):
            if response.HasField("chunk"):
                text.append(response.chunk.text)
                ids.extend(response.chunk.token_ids)
            else:
                final = response.final
        return Completion("".join(text), ids, final)

    def tokenize(self, text: str, *, add_special: bool = True) -> list:
        response = self._stub.Tokenize(
            hobbit_pb2.TokenizeRequest(text=text, add_special=add_special), timeout=self._timeout)
        return list(response.ids)

    def model_info(self) -> hobbit_pb2.GetModelInfoResponse:
        return self._stub.GetModelInfo(hobbit_pb2.GetModelInfoRequest(), timeout=self._timeout)

    def cache_stats(self) -> hobbit_pb2.GetCacheStatsResponse:
        return self._stub.GetCacheStats(hobbit_pb2.GetCacheStatsRequest(), timeout=self._timeout)
