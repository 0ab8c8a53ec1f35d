"""A Mixtral-architecture MoE language model in plain PyTorch, for training.

Same math as transformers' MixtralForCausalLM (pre-norm RMSNorm blocks, GQA
attention with rotate-half RoPE, softmax router -> top-k -> renormalised
weights, SwiGLU experts), so the weights are saved under the original Mixtral
checkpoint names and load into transformers and convert_hf_to_gguf.py. It is
its own module rather than transformers' class because training wants the
experts run as two grouped matmuls per layer (torch grouped_mm) and the router
statistics of every layer for a per-layer load-balancing loss.
"""

import json
import math
import os
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class MoeConfig:
    vocab_size: int = 8192
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 64
    intermediate_size: int = 384
    num_experts: int = 8
    top_k: int = 2
    max_seq_len: int = 512
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    bos_token_id: int = 0
    eos_token_id: int = 1

    def num_params(self):
        h, i, e, v = self.hidden_size, self.intermediate_size, self.num_experts, self.vocab_size
        attn = h * self.head_dim * (2 * self.num_heads + 2 * self.num_kv_heads)
        moe = e * 3 * h * i + e * h
        return 2 * v * h + h + self.num_layers * (attn + moe + 2 * h)


class RmsNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_tables(cfg, seq_len, device):
    inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, cfg.head_dim, 2, device=device, dtype=torch.float32)
                                    / cfg.head_dim))
    t = torch.arange(seq_len, device=device, dtype=torch.float32)
    freqs = torch.outer(t, inv)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos(), emb.sin()


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        h, d = cfg.hidden_size, cfg.head_dim
        self.q_proj = nn.Linear(h, cfg.num_heads * d, bias=False)
        self.k_proj = nn.Linear(h, cfg.num_kv_heads * d, bias=False)
        self.v_proj = nn.Linear(h, cfg.num_kv_heads * d, bias=False)
        self.o_proj = nn.Linear(cfg.num_heads * d, h, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        c = self.cfg
        q = self.q_proj(x).view(b, t, c.num_heads, c.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, c.num_kv_heads, c.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, c.num_kv_heads, c.head_dim).transpose(1, 2)
        cos, sin = cos[:t].to(q.dtype), sin[:t].to(q.dtype)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        rep = c.num_heads // c.num_kv_heads
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, c.num_heads * c.head_dim))


def _has_grouped_mm():
    return hasattr(F, "grouped_mm") or hasattr(torch, "_grouped_mm")


def _grouped_mm(a, b, offs):
    if hasattr(F, "grouped_mm"):
        return F.grouped_mm(a, b, offs=offs)
    return torch._grouped_mm(a, b, offs=offs)


class MoeBlock(nn.Module):
    """Router + stacked experts. gate_up[e] = [w1_e; w3_e] (I rows each), down[e] = w2_e."""

    use_grouped_mm = False  # set by the trainer after checking it against the loop path

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        e, h, i = cfg.num_experts, cfg.hidden_size, cfg.intermediate_size
        self.gate = nn.Linear(h, e, bias=False)
        self.gate_up = nn.Parameter(torch.empty(e, 2 * i, h))
        self.down = nn.Parameter(torch.empty(e, h, i))
        self.last_stats = None

    def route(self, x):
        logits = self.gate(x).float()
        probs = logits.softmax(-1)
        top_w, top_i = probs.topk(self.cfg.top_k, dim=-1)
        top_w = top_w / top_w.sum(-1, keepdim=True)
        return logits, probs, top_w, top_i

    def _experts_loop(self, xs, counts):
        outs, start = [], 0
        for e, n in enumerate(counts.tolist()):
            if n:
                h = xs[start:start + n] @ self.gate_up[e].to(xs.dtype).t()
                g, u = h.chunk(2, dim=-1)
                outs.append((F.silu(g) * u) @ self.down[e].to(xs.dtype).t())
            start += n
        return torch.cat(outs, 0)

    def _experts_grouped(self, xs, counts):
        offs = torch.cumsum(counts, 0).to(torch.int32)
        dt = torch.bfloat16
        h = _grouped_mm(xs.to(dt), self.gate_up.to(dt).transpose(-2, -1), offs)
        g, u = h.chunk(2, dim=-1)
        return _grouped_mm((F.silu(g) * u).to(dt), self.down.to(dt).transpose(-2, -1), offs)

    def forward(self, x, grouped=None):
        b, t, hdim = x.shape
        x = x.reshape(-1, hdim)
        logits, probs, top_w, top_i = self.route(x)
        k = self.cfg.top_k
        flat = top_i.reshape(-1)
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=self.cfg.num_experts)
        xs = x[order // k]
        grouped = self.use_grouped_mm if grouped is None else grouped
        ys = self._experts_grouped(xs, counts) if grouped else self._experts_loop(xs, counts)
        ys = ys.float() * top_w.reshape(-1)[order].unsqueeze(-1)
        out = torch.empty_like(ys)
        out[order] = ys
        out = out.view(-1, k, hdim).sum(1).to(x.dtype)
        self.last_stats = (logits, probs, counts, top_i)
        self.last_input = x if getattr(self, "keep_input", False) else None  # the gate input
        return out.view(b, t, hdim)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RmsNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RmsNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.block_sparse_moe = MoeBlock(cfg)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.block_sparse_moe(self.post_attention_layernorm(x))


class MoeLm(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_layers))
        self.norm = RmsNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        cos, sin = rope_tables(cfg, cfg.max_seq_len, torch.device("cpu"))
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def init_weights(self, generator):
        std = 0.02
        out_std = std / math.sqrt(2 * self.cfg.num_layers)
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "norm.weight":
                nn.init.ones_(p)
            elif name.endswith(("o_proj.weight", ".down")):
                nn.init.normal_(p, 0.0, out_std, generator=generator)
            else:
                nn.init.normal_(p, 0.0, std, generator=generator)

    def forward(self, ids):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, self.rope_cos, self.rope_sin)
        return self.lm_head(self.norm(x))

    def router_stats(self):
        return [layer.block_sparse_moe.last_stats for layer in self.layers]

    def hf_state_dict(self):
        """Weights under the original Mixtral checkpoint names (float32, contiguous)."""
        out = {"model.embed_tokens.weight": self.embed_tokens.weight,
               "model.norm.weight": self.norm.weight, "lm_head.weight": self.lm_head.weight}
        i = self.cfg.intermediate_size
        for n, layer in enumerate(self.layers):
            p = f"model.layers.{n}."
            out[p + "input_layernorm.weight"] = layer.input_layernorm.weight
            out[p + "post_attention_layernorm.weight"] = layer.post_attention_layernorm.weight
            for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
                out[p + f"self_attn.{proj}.weight"] = getattr(layer.self_attn, proj).weight
            moe = layer.block_sparse_moe
            out[p + "block_sparse_moe.gate.weight"] = moe.gate.weight
            for e in range(self.cfg.num_experts):
                q = p + f"block_sparse_moe.experts.{e}."
                out[q + "w1.weight"] = moe.gate_up[e, :i]
                out[q + "w3.weight"] = moe.gate_up[e, i:]
                out[q + "w2.weight"] = moe.down[e]
        return {k: v.detach().float().cpu().contiguous() for k, v in out.items()}

    def hf_config(self):
        c = self.cfg
        return {
            "architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
            "vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size, "num_hidden_layers": c.num_layers,
            "num_attention_heads": c.num_heads, "num_key_value_heads": c.num_kv_heads,
            "head_dim": c.head_dim, "hidden_act": "silu", "max_position_embeddings": c.max_seq_len,
            "rms_norm_eps": c.rms_norm_eps, "rope_theta": c.rope_theta,
            "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
            "num_local_experts": c.num_experts, "num_experts_per_tok": c.top_k,
            "router_aux_loss_coef": 0.0, "output_router_logits": False, "router_jitter_noise": 0.0,
            "sliding_window": None, "attention_dropout": 0.0, "tie_word_embeddings": False,
            "bos_token_id": c.bos_token_id, "eos_token_id": c.eos_token_id, "pad_token_id": None,
            "initializer_range": 0.02, "use_cache": True, "torch_dtype": "float32",
        }

    def save_hf(self, out_dir):
        from safetensors.torch import save_file
        os.makedirs(out_dir, exist_ok=True)
        save_file(self.hf_state_dict(), os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(self.hf_config(), f, indent=2)
        with open(os.path.join(out_dir, "hobbit_train_config.json"), "w") as f:
            json.dump(asdict(self.cfg), f, indent=2)


def balance_losses(stats, num_experts, top_k):
    """Per-layer Switch-style load-balancing loss (1.0 when uniform) and router z-loss, averaged."""
    aux, z = 0.0, 0.0
    for logits, probs, counts, _ in stats:
        frac = counts.float() / (counts.sum().float())          # share of the top-k slots
        aux = aux + num_experts * (frac.detach() * probs.mean(0)).sum()
        z = z + torch.logsumexp(logits, -1).pow(2).mean()
    return aux / len(stats), z / len(stats)
