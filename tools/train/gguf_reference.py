#!/usr/bin/env python3
"""NumPy forward pass of a llama-architecture (Mixtral) MoE GGUF, by llama.cpp's rules.

An independent check of an exported file: it reads only the GGUF (gguf-py's
reader and dequantizer) and follows llama.cpp's semantics (adjacent-pair RoPE
on the converter-permuted Q/K, softmax router -> top-k -> renormalised weights,
SwiGLU experts). train_moe.py compares its logits with the PyTorch model's.

  python3 tools/train/gguf_reference.py MODEL.gguf [--prompt "def fibonacci("] [--tokens 60]
      prints the tensor list and a greedy completion (needs the tokenizers
      package; the tokenizer is rebuilt from the GGUF's tokens and merges).
"""

import argparse
import json
import sys

import numpy as np


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    if len(f.data) == 1:
        v = f.parts[f.data[0]]
        if v.dtype == np.uint8:  # string
            return bytes(v).decode("utf-8")
        return v.tolist()[0]
    return [bytes(f.parts[i]).decode("utf-8") if f.parts[i].dtype == np.uint8 else f.parts[i].tolist()[0]
            for i in f.data]


def _rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


class GgufModel:
    def __init__(self, path):
        from gguf import GGUFReader
        from gguf.quants import dequantize
        self.reader = GGUFReader(path)
        r = self.reader
        self.arch = _field(r, "general.architecture")
        a = self.arch
        self.n_layer = _field(r, f"{a}.block_count")
        self.n_head = _field(r, f"{a}.attention.head_count")
        self.n_kv = _field(r, f"{a}.attention.head_count_kv", self.n_head)
        self.n_embd = _field(r, f"{a}.embedding_length")
        self.eps = _field(r, f"{a}.attention.layer_norm_rms_epsilon")
        self.base = _field(r, f"{a}.rope.freq_base", 10000.0)
        self.top_k = _field(r, f"{a}.expert_used_count")
        self.head_dim = _field(r, f"{a}.attention.key_length", self.n_embd // self.n_head)
        self.t = {}
        self.types = {}
        for t in r.tensors:
            self.t[t.name] = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(
                tuple(int(d) for d in reversed(t.shape)))
            self.types[t.name] = (t.tensor_type.name, [int(d) for d in t.shape])

    def summary(self):
        r = self.reader
        keys = ["general.architecture", "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id",
                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"]
        a = self.arch
        keys += [f"{a}.{k}" for k in ("context_length", "embedding_length", "block_count", "feed_forward_length",
                                      "attention.head_count", "attention.head_count_kv", "expert_count",
                                      "expert_used_count", "rope.freq_base", "rope.dimension_count",
                                      "attention.layer_norm_rms_epsilon", "vocab_size")]
        meta = {k: _field(r, k) for k in keys}
        meta["tokenizer.ggml.tokens (count)"] = len(r.fields["tokenizer.ggml.tokens"].data)
        meta["tokenizer.ggml.merges (count)"] = len(r.fields["tokenizer.ggml.merges"].data) \
            if "tokenizer.ggml.merges" in r.fields else 0
        return {"metadata": meta, "tensors": {k: v for k, v in sorted(self.types.items())}}

    def _rope(self, x, pos):
        d = x.shape[-1]
        inv = self.base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
        ang = pos[:, None].astype(np.float64) * inv[None, :]
        cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * cos - x1 * sin
        out[..., 1::2] = x0 * sin + x1 * cos
        return out

    def _moe(self, h, n):
        t = self.t
        logits = h @ t[f"blk.{n}.ffn_gate_inp.weight"].T
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        idx = np.argsort(-p, axis=-1, kind="stable")[:, :self.top_k]
        w = np.take_along_axis(p, idx, -1)
        w /= w.sum(-1, keepdims=True)
        gate, up = t[f"blk.{n}.ffn_gate_exps.weight"], t[f"blk.{n}.ffn_up_exps.weight"]
        down = t[f"blk.{n}.ffn_down_exps.weight"]
        out = np.zeros_like(h)
        for e in range(gate.shape[0]):
            rows, slot = np.nonzero(idx == e)
            if rows.size:
                x = h[rows]
                g = x @ gate[e].T
                a = g / (1.0 + np.exp(-g)) * (x @ up[e].T)
                out[rows] += (a @ down[e].T) * w[rows, slot][:, None]
        return out

    def forward(self, ids):
        """Logits [T, vocab] for token ids at positions 0..T-1."""
        t = self.t
        ids = np.asarray(ids, dtype=np.int64)
        T, d = len(ids), self.head_dim
        pos = np.arange(T)
        x = t["token_embd.weight"][ids].astype(np.float32)
        mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
        rep = self.n_head // self.n_kv
        for n in range(self.n_layer):
            h = _rms(x, t[f"blk.{n}.attn_norm.weight"], self.eps)
            q = self._rope((h @ t[f"blk.{n}.attn_q.weight"].T).reshape(T, self.n_head, d), pos)
            k = self._rope((h @ t[f"blk.{n}.attn_k.weight"].T).reshape(T, self.n_kv, d), pos)
            v = (h @ t[f"blk.{n}.attn_v.weight"].T).reshape(T, self.n_kv, d)
            heads = []
            for hd in range(self.n_head):
                s = q[:, hd] @ k[:, hd // rep].T / np.sqrt(d) + mask
                s = np.exp(s - s.max(-1, keepdims=True))
                heads.append((s / s.sum(-1, keepdims=True)) @ v[:, hd // rep])
            x = x + np.concatenate(heads, -1) @ t[f"blk.{n}.attn_output.weight"].T
            x = x + self._moe(_rms(x, t[f"blk.{n}.ffn_norm.weight"], self.eps), n)
        x = _rms(x, t["output_norm.weight"], self.eps)
        return x @ t.get("output.weight", t["token_embd.weight"]).T

    def generate(self, ids, n_new, eos_id=None):
        out = []
        for _ in range(n_new):
            nxt = int(self.forward(list(ids) + out)[-1].argmax())
            if nxt == eos_id:
                break
            out.append(nxt)
        return out


def tokenizer_from_gguf(reader):
    """A tokenizers.Tokenizer rebuilt from the GGUF vocabulary (llama-bpe pre-tokenizer)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from data import LLAMA3_SPLIT
    tokens = _field(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE(vocab={s: i for i, s in enumerate(tokens)}, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    return tok, tokens


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf")
    ap.add_argument("--prompt", default="def fibonacci(")
    ap.add_argument("--tokens", type=int, default=60)
    args = ap.parse_args()
    m = GgufModel(args.gguf)
    print(json.dumps(m.summary()["metadata"], indent=1))
    for name, (typ, shape) in sorted(m.types.items()):
        print(f"{name:40s} {typ:6s} {shape}")
    tok, _ = tokenizer_from_gguf(m.reader)
    ids = tok.encode(args.prompt).ids
    if _field(m.reader, "tokenizer.ggml.add_bos_token"):
        ids = [_field(m.reader, "tokenizer.ggml.bos_token_id")] + ids
    out = m.generate(ids, args.tokens, eos_id=_field(m.reader, "tokenizer.ggml.eos_token_id"))
    print(f"prompt ids {ids}\n--- greedy completion ---\n{args.prompt}{tok.decode(out)}")


if __name__ == "__main__":
    main()
