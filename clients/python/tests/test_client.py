"""hobbit_client against a live hobbitd (see conftest.py)."""
import os
import pathlib
import subprocess
import sys

import grpc
import pytest

from hobbit_client import HobbitClient
from hobbit_client.proto import hobbit_pb2


@pytest.fixture
def client(daemon):
    with HobbitClient(daemon.address, timeout=30) as c:
        yield c


def test_streams_chunks_then_final(client):
    responses = list(client.generate("Hello world", max_tokens=12, temperature=0.0,
                                     ignore_eos=True))
    assert responses[-1].HasField("final")
    assert all(r.HasField("chunk") for r in responses[:-1])
    final = responses[-1].final
    assert final.finish_reason == hobbit_pb2.FINISH_REASON_LENGTH
    assert final.generated_tokens == 12
    ids = [t for r in responses[:-1] for t in r.chunk.token_ids]
    assert len(ids) == 12


def test_greedy_text_and_tokens_agree(client):
    prompt_ids = client.tokenize("Hello world")
    by_text = client.complete("Hello world", max_tokens=10, temperature=0.0, ignore_eos=True)
    by_ids = client.complete(tokens=prompt_ids, max_tokens=10, temperature=0.0, ignore_eos=True)
    assert by_text.token_ids == by_ids.token_ids
    assert by_text.final.prompt_tokens == len(prompt_ids)


def test_stream_text_and_chat(client):
    text = "".join(client.stream_text(messages=[{"role": "user", "content": "Hi"}],
                                      max_tokens=5, seed=3))
    assert isinstance(text, str)


def test_invalid_argument_names_the_field(client):
    with pytest.raises(grpc.RpcError) as error:
        list(client.generate("Hello", top_p=1.5))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details().startswith("top_p: ")


def test_model_info_and_stats(client):
    info = client.model_info()
    assert info.architecture == "llama"
    assert info.vocab_size > 0
    stats = client.cache_stats()
    assert stats.kv_blocks_total > 0


def test_example_streams(daemon):
    example = pathlib.Path(__file__).resolve().parents[1] / "examples" / "stream.py"
    env = dict(os.environ, PYTHONPATH=str(example.parents[1]))
    result = subprocess.run([sys.executable, str(example), "--server", daemon.address,
                             "--max-tokens", "8", "Once upon a time"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "FINISH_REASON_" in result.stderr


def test_reflection_describes_the_service(daemon):
    reflection = pytest.importorskip(
        "grpc_reflection.v1alpha.proto_reflection_descriptor_database",
        reason="grpcio-reflection is not installed")
    with grpc.insecure_channel(daemon.address) as channel:
        database = reflection.ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        assert {"hobbit.v1.Hobbit", "grpc.health.v1.Health"} <= services
        assert database.FindFileContainingSymbol("hobbit.v1.GenerateRequest").name == \
            "hobbit/v1/hobbit.proto"
