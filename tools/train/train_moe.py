#!/usr/bin/env python3
"""Trains a small Mixtral-architecture MoE on Python source and exports it to GGUF.

  python3 tools/train/train_moe.py prepare --data DIR
      corpus + byte-level BPE tokenizer (tools/train/data.py) -> DIR
  python3 tools/train/train_moe.py train --preset demo --data DIR --out OUT \
      [--train-seconds S | --steps N] [--converter-dir CONV]
      trains, evaluates on the held-out files, saves the HF checkpoint
      (OUT/hf-PRESET), converts it to OUT/hobbit-PRESET-q8_0.gguf and checks the
      GGUF against the PyTorch model with a NumPy forward pass.

`--train-seconds` calibrates the step count from the measured step time (the
number used is written to the metrics as `steps`); pass `--steps N` to repeat a
run exactly. tools/train/README.md has the presets, numbers and the device call.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as data_mod  # noqa: E402
from model import MoeBlock, MoeConfig, MoeLm, balance_losses  # noqa: E402

PRESETS = {
    # <= 16 MB as Q8_0: the daemon's embedded default model.
    "demo": dict(model=dict(hidden_size=256, num_layers=6, num_heads=4, num_kv_heads=2, head_dim=64,
                            intermediate_size=224, max_seq_len=512),
                 batch=128, lr=3e-3, warmup=200, aux_coef=0.02, z_coef=1e-3, outtype="q8_0"),
    # The model the routing / quality measurements use; regenerated, not committed.
    "eval": dict(model=dict(hidden_size=512, num_layers=8, num_heads=8, num_kv_heads=4, head_dim=64,
                            intermediate_size=768, max_seq_len=512),
                 batch=128, lr=1.5e-3, warmup=200, aux_coef=0.02, z_coef=1e-3, outtype="q8_0"),
    # CPU smoke test of the whole pipeline.
    "toy": dict(model=dict(hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1, head_dim=32,
                           intermediate_size=64, max_seq_len=128),
                batch=8, lr=3e-3, warmup=10, aux_coef=0.02, z_coef=1e-3, outtype="q8_0"),
}
PROMPT = "def fibonacci("
CALIBRATE_FROM, CALIBRATE_TO = 20, 50


def log(*args):
    print(*args, flush=True)


def cmd_prepare(args):
    recipe = data_mod.prepare(args.data, args.vocab, args.heldout_permille, int(args.max_train_mb * 1e6),
                              int(args.tokenizer_sample_mb * 1e6), log=log)
    log(json.dumps({k: recipe[k] for k in ("train_files", "train_bytes", "train_tokens", "heldout_files",
                                            "heldout_bytes", "heldout_tokens")}))


class Batches:
    """Random windows of the training stream; the order depends only on the seed."""

    def __init__(self, tokens, seq_len, batch, seed, device):
        self.tokens = torch.from_numpy(tokens.astype(np.int64)).to(device)
        self.seq_len, self.batch = seq_len, batch
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.arange = torch.arange(seq_len + 1, device=device)

    def next(self):
        starts = self.rng.integers(0, self.tokens.numel() - self.seq_len - 1, size=self.batch)
        idx = torch.from_numpy(starts).to(self.tokens.device)[:, None] + self.arange
        w = self.tokens[idx]
        return w[:, :-1], w[:, 1:]


def windows(tokens, seq_len, max_windows):
    n = min(max_windows, (tokens.size - 1) // seq_len)
    return np.stack([tokens[i * seq_len:(i + 1) * seq_len + 1] for i in range(n)]).astype(np.int64)


def autocast(device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def evaluate(model, wins, device, batch, routing=False):
    """Mean NLL per predicted token over windows; optional routing statistics."""
    model.eval()
    total, count = 0.0, 0
    e, k = model.cfg.num_experts, model.cfg.top_k
    layers = model.cfg.num_layers
    slots = torch.zeros(layers, e, dtype=torch.float64, device=device)
    reuse = torch.zeros(layers, dtype=torch.float64, device=device)
    reuse_n = 0
    second = [[] for _ in range(layers)]
    # Stacked-gate prediction (hobbit-algorithms.md §2): layer l + d's router applied to layer
    # l's gate input; share of layer l + d's actual top-k it names, and whether it names the top-1.
    depths = range(1, 4)
    pred_hit = {d: torch.zeros(layers, dtype=torch.float64, device=device) for d in depths}
    pred_top1 = {d: torch.zeros(layers, dtype=torch.float64, device=device) for d in depths}
    pred_n = 0
    moes = [layer.block_sparse_moe for layer in model.layers]
    for m in moes:
        m.keep_input = routing
    for i in range(0, len(wins), batch):
        w = torch.from_numpy(wins[i:i + batch]).to(device)
        with autocast(device):
            logits = model(w[:, :-1])
        nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), w[:, 1:].reshape(-1), reduction="sum")
        total += nll.item()
        count += w[:, 1:].numel()
        if routing:
            b, t = w.shape[0], w.shape[1] - 1
            for li, (_, probs, counts, top_i) in enumerate(model.router_stats()):
                slots[li] += counts.double()
                sel = F.one_hot(top_i, e).sum(1).view(b, t, e)           # 0/1 per expert
                hit = (sel[:, 1:] * sel[:, :-1]).sum(-1).double()         # of token t's k, also at t-1
                reuse[li] += hit.sum() / k
                top_w = probs.topk(k, dim=-1).values
                second[li].append((top_w[:, 1] / top_w.sum(-1)).float().cpu())
            reuse_n += b * (t - 1)
            stats = model.router_stats()
            for d in depths:
                for li in range(layers - d):
                    with autocast(device):
                        _, _, _, pred_i = moes[li + d].route(moes[li].last_input)
                    actual = stats[li + d][3]
                    pred_sel = F.one_hot(pred_i, e).sum(1)
                    act_sel = F.one_hot(actual, e).sum(1)
                    pred_hit[d][li] += (pred_sel * act_sel).sum().double() / k
                    pred_top1[d][li] += pred_sel.gather(1, actual[:, :1]).sum().double()
            pred_n += b * t
    for m in moes:
        m.keep_input = False
        m.last_input = None
    model.train()
    out = {"loss": total / count, "ppl": math.exp(total / count), "tokens": count}
    if routing:
        pop = (slots / slots.sum(1, keepdim=True)).cpu().numpy()
        out["routing"] = {
            "expert_popularity": [[round(float(x), 4) for x in row] for row in pop],
            "min_share": float(pop.min()), "max_share": float(pop.max()),
            "next_token_reuse": [round(float(x), 4) for x in (reuse / reuse_n).cpu().numpy()],
            "stacked_gate_prediction": {
                f"depth_{d}": {
                    "topk_recall": [round(float(x), 4) for x in (pred_hit[d][:layers - d] / pred_n).cpu().numpy()],
                    "top1_named": [round(float(x), 4) for x in (pred_top1[d][:layers - d] / pred_n).cpu().numpy()],
                } for d in depths},
            "second_gate_weight_quantiles_10_50_90": [
                [round(float(q), 4) for q in np.quantile(torch.cat(s).numpy(), [0.1, 0.5, 0.9])]
                for s in second],
        }
    return out


@torch.no_grad()
def generate(model, tok, prompt, device, n_new, temperature=0.0, top_k=40, seed=0):
    ids = tok.encode(prompt).ids                     # starts with <|bos|>
    gen = torch.Generator(device="cpu").manual_seed(seed)
    model.eval()
    out = []
    for _ in range(n_new):
        ctx = torch.tensor([(ids + out)[-model.cfg.max_seq_len:]], device=device)
        with autocast(device):
            logits = model(ctx)[0, -1].float().cpu()
        if temperature <= 0:
            nxt = int(logits.argmax())
        else:
            v, i = logits.topk(top_k)
            nxt = int(i[torch.multinomial((v / temperature).softmax(-1), 1, generator=gen)])
        if nxt == model.cfg.eos_token_id:
            break
        out.append(nxt)
    model.train()
    return prompt + tok.decode(out, skip_special_tokens=False) if out else prompt, out


def check_grouped_mm(model, device):
    """Uses grouped_mm for the experts only if it matches the loop path, forward and backward."""
    if device.type != "cuda":
        return False, "cpu: loop path"
    try:
        moe = model.layers[0].block_sparse_moe
        x = torch.randn(1, 300, model.cfg.hidden_size, device=device, requires_grad=True)
        res = {}
        for grouped in (False, True):
            moe.zero_grad(set_to_none=True)
            x.grad = None
            with autocast(device):
                y = moe(x, grouped=grouped)
            y.float().square().sum().backward()
            res[grouped] = (y.float(), x.grad.clone(), moe.gate_up.grad.clone())
        moe.zero_grad(set_to_none=True)
        errs = [((a - b).norm() / b.norm()).item() for a, b in zip(res[True], res[False])]
        ok = all(e < 2e-2 for e in errs)
        return ok, f"grouped_mm vs loop rel. errors (out, dx, dW) {[f'{e:.1e}' for e in errs]}"
    except Exception as e:  # an older torch without grouped_mm autograd on this GPU
        return False, f"grouped_mm unavailable: {type(e).__name__}: {e}"


def lr_at(step, lr, warmup, total_steps):
    """Linear warm-up, then cosine decay to 10 % of the peak over total_steps."""
    if step < warmup:
        return lr * (step + 1) / warmup
    horizon = total_steps if total_steps is not None else 10**9
    frac = min(1.0, (step - warmup) / max(1, horizon - warmup))
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


class StepBudget:
    """Fixes the step count from the time of steps CALIBRATE_FROM..CALIBRATE_TO, unless given."""

    def __init__(self, steps, seconds, device, name):
        self.total, self.seconds, self.device, self.name = steps, seconds, device, name
        self.t_start = time.time()
        self.t_cal = None

    def _now(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.time()

    def done(self, step, tokens_per_step):
        if self.total is None and step == CALIBRATE_FROM:
            self.t_cal = self._now()
        if self.total is None and step == CALIBRATE_TO:
            per_step = (self._now() - self.t_cal) / (CALIBRATE_TO - CALIBRATE_FROM)
            left = self.seconds - (time.time() - self.t_start)
            self.total = max(CALIBRATE_TO + 1, CALIBRATE_TO + int(0.97 * left / per_step))
            log(f"[{self.name}] {per_step * 1e3:.1f} ms/step -> {self.total} steps "
                f"({self.total * tokens_per_step / 1e6:.1f}M tokens)")
        return self.total is not None and step >= self.total


def setup(args):
    """Device, seeds, tokenizer, token streams, model and hyper-parameters of a preset."""
    preset = PRESETS[args.preset]
    device = torch.device(args.device if args.device else ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(args.data, "tokenizer.json"))
    train_ids = np.fromfile(os.path.join(args.data, "train.bin"), dtype=np.uint16)
    heldout_ids = np.fromfile(os.path.join(args.data, "heldout.bin"), dtype=np.uint16)
    mcfg = dict(preset["model"])
    if args.seq_len:
        mcfg["max_seq_len"] = args.seq_len
    cfg = MoeConfig(vocab_size=tok.get_vocab_size(), **mcfg)
    hyper = dict(batch=args.batch or preset["batch"], seq_len=cfg.max_seq_len, lr=args.lr or preset["lr"],
                 warmup=preset["warmup"], aux_coef=preset["aux_coef"] if args.aux_coef is None else args.aux_coef,
                 z_coef=preset["z_coef"], seed=args.seed)
    model = MoeLm(cfg)
    model.init_weights(torch.Generator().manual_seed(args.seed))
    model.to(device)
    ok, why = check_grouped_mm(model, device)
    MoeBlock.use_grouped_mm = ok
    hyper["experts_impl"] = "grouped_mm" if ok else "loop"
    log(f"[{args.preset}] params {cfg.num_params() / 1e6:.2f}M, config {cfg}, experts via "
        f"{hyper['experts_impl']} ({why})")
    return model, tok, cfg, hyper, train_ids, heldout_ids, device


def train(args):
    model, tok, cfg, hyper, train_ids, heldout_ids, device = setup(args)
    batch, seq, lr = hyper["batch"], hyper["seq_len"], hyper["lr"]
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "gate.weight" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "gate.weight" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")
    batches = Batches(train_ids, seq, batch, args.seed, device)
    held_small = windows(heldout_ids, seq, args.curve_windows)
    budget = StepBudget(args.steps, args.train_seconds, device, args.preset)
    curve, held_curve = [], []
    acc, acc_n, step = torch.zeros(3, device=device), 0, 0
    while not budget.done(step, batch * seq):
        cur = lr_at(step, lr, hyper["warmup"], budget.total)
        for g in opt.param_groups:
            g["lr"] = cur
        x, y = batches.next()
        with autocast(device):
            logits = model(x)
        ce = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.reshape(-1))
        aux, z = balance_losses(model.router_stats(), cfg.num_experts, cfg.top_k)
        loss = ce + hyper["aux_coef"] * aux + hyper["z_coef"] * z
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        acc += torch.stack([ce.detach(), aux.detach(), z.detach()])
        acc_n += 1
        step += 1
        if step % args.log_every == 0 or step == budget.total:
            a = (acc / acc_n).tolist()
            curve.append({"step": step, "tokens": step * batch * seq, "seconds": round(time.time() - budget.t_start, 2),
                          "lr": cur, "train_ce": round(a[0], 4), "aux": round(a[1], 4), "z": round(a[2], 3)})
            acc.zero_()
            acc_n = 0
            if step % (args.log_every * 10) == 0:
                log(f"[{args.preset}] step {step}/{budget.total} {curve[-1]}")
        if step % args.eval_every == 0 or step == budget.total:
            ev = evaluate(model, held_small, device, 64)
            held_curve.append({"step": step, "heldout_ce": round(ev["loss"], 4), "ppl": round(ev["ppl"], 3)})
            log(f"[{args.preset}] step {step} held-out(small) {held_curve[-1]}")
    train_seconds = time.time() - budget.t_start
    log(f"[{args.preset}] trained {step} steps in {train_seconds:.1f}s")
    info = dict(steps=step, **hyper, train_seconds=round(train_seconds, 1), tokens_seen=step * batch * seq,
                curve=curve, heldout_curve=held_curve)
    return model, tok, cfg, info, heldout_ids, train_ids, device


def hf_crosscheck(model, hf_dir, wins, tok, device):
    """Loads the saved checkpoint with transformers and compares logits with ours (fp32)."""
    from transformers import MixtralForCausalLM
    hf = MixtralForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).to(device).eval()
    x = torch.from_numpy(wins[:2, :128]).to(device)
    MoeBlock.use_grouped_mm, saved = False, MoeBlock.use_grouped_mm
    model.eval()
    with torch.no_grad():
        ours = model.float()(x).float()
        theirs = hf(x).logits.float()
        ids = torch.tensor([tok.encode(PROMPT).ids], device=device)
        g = hf.generate(ids, max_new_tokens=40, do_sample=False, eos_token_id=1, pad_token_id=1)
    MoeBlock.use_grouped_mm = saved
    rel = ((ours - theirs).norm() / theirs.norm()).item()
    return {"transformers_logits_rel_err": rel, "transformers_greedy": tok.decode(g[0].tolist()[1:])}


def export_and_check(args, model, tok, hf_dir, wins, device):
    """Converter -> GGUF; then a NumPy forward of the GGUF against the PyTorch model."""
    out = {}
    gguf_path = os.path.join(args.out, f"hobbit-{args.preset}-{PRESETS[args.preset]['outtype']}.gguf")
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "convert_gguf.py"),
           "--converter-dir", args.converter_dir, "--pre", "llama-bpe", "--outtype",
           PRESETS[args.preset]["outtype"], "--outfile", gguf_path, "--model-name", f"hobbit-{args.preset}", hf_dir]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    out["convert_seconds"] = round(time.time() - t0, 1)
    if r.returncode != 0:
        log(r.stdout[-3000:], r.stderr[-6000:])
        raise RuntimeError("convert_hf_to_gguf failed")
    out["gguf_path"] = gguf_path
    out["gguf_bytes"] = os.path.getsize(gguf_path)
    sys.path.insert(0, os.path.join(args.converter_dir, "gguf-py"))
    import gguf_reference
    ref = gguf_reference.GgufModel(gguf_path)
    out["gguf_summary"] = ref.summary()
    x = wins[0, :64]
    model.eval()
    with torch.no_grad():
        ours = model.float()(torch.from_numpy(x[None]).to(device))[0].float().cpu().numpy()
    theirs = ref.forward(x)
    out["gguf_numpy_logits_rel_err"] = float(np.linalg.norm(ours - theirs) / np.linalg.norm(ours))
    out["gguf_numpy_argmax_agreement"] = float((ours.argmax(-1) == theirs.argmax(-1)).mean())
    ids = tok.encode(PROMPT).ids
    gen = ref.generate(ids, 60, eos_id=model.cfg.eos_token_id)
    out["gguf_numpy_greedy"] = PROMPT + tok.decode(gen)
    return out


def write_metrics(args, metrics):
    """Rewritten after every stage, so a run killed late still leaves what it measured."""
    path = os.path.join(args.out, f"metrics-{args.preset}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(metrics, f, indent=1)
    os.replace(path + ".tmp", path)


def cmd_train(args):
    os.makedirs(args.out, exist_ok=True)
    model, tok, cfg, info, heldout_ids, train_ids, device = train(args)
    seq = cfg.max_seq_len
    metrics = {"preset": args.preset, "model": cfg.__dict__, "params": cfg.num_params(),
               "active_params": cfg.num_params() - cfg.num_layers * cfg.num_experts * 3 * cfg.hidden_size
               * cfg.intermediate_size * (cfg.num_experts - cfg.top_k) // cfg.num_experts,
               "train": info, "torch": torch.__version__,
               "gpu": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
    recipe_path = os.path.join(args.data, "recipe.json")
    if os.path.exists(recipe_path):
        with open(recipe_path) as f:
            metrics["data"] = json.load(f)
    t0 = time.time()
    held = windows(heldout_ids, seq, args.heldout_windows)
    ev = evaluate(model, held, device, 64, routing=True)
    tr = evaluate(model, windows(train_ids[len(train_ids) // 3:], seq, 256), device, 64)
    metrics["heldout"] = {k: ev[k] for k in ("loss", "ppl", "tokens")}
    metrics["train_sample"] = tr
    metrics["routing_heldout"] = ev["routing"]
    log(f"[{args.preset}] held-out: loss {ev['loss']:.4f} ppl {ev['ppl']:.3f} over {ev['tokens']} tokens; "
        f"train sample loss {tr['loss']:.4f} ppl {tr['ppl']:.3f} ({time.time() - t0:.1f}s)")
    for li, row in enumerate(ev["routing"]["expert_popularity"]):
        log(f"[{args.preset}] layer {li} popularity {' '.join(f'{100 * v:5.1f}' for v in row)}  "
            f"reuse {ev['routing']['next_token_reuse'][li]:.3f}  "
            f"w2 q10/50/90 {ev['routing']['second_gate_weight_quantiles_10_50_90'][li]}")
    write_metrics(args, metrics)
    samples = {"greedy": generate(model, tok, PROMPT, device, 120)[0],
               "sampled_t0.8_k40": generate(model, tok, PROMPT, device, 120, temperature=0.8, seed=args.seed)[0]}
    metrics["samples"] = samples
    for k, v in samples.items():
        log(f"[{args.preset}] sample ({k}):\n{v}\n-----")
    write_metrics(args, metrics)
    hf_dir = os.path.join(args.out, f"hf-{args.preset}")
    model.save_hf(hf_dir)
    data_mod.write_hf_tokenizer_files(tok, hf_dir, seq)
    try:
        metrics["hf_check"] = hf_crosscheck(model, hf_dir, held, tok, device)
        log(f"[{args.preset}] transformers check: {metrics['hf_check']}")
    except Exception as e:
        metrics["hf_check"] = {"error": f"{type(e).__name__}: {e}"}
        log(f"[{args.preset}] transformers check failed: {e}")
    write_metrics(args, metrics)
    if args.converter_dir:
        try:
            metrics["gguf"] = export_and_check(args, model, tok, hf_dir, held, device)
            g = dict(metrics["gguf"])
            g.pop("gguf_summary", None)
            log(f"[{args.preset}] gguf: {g}")
        except Exception as e:
            metrics["gguf"] = {"error": f"{type(e).__name__}: {e}"}
            log(f"[{args.preset}] gguf export/check failed: {e}")
    write_metrics(args, metrics)
    log(f"[{args.preset}] done")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data", required=True)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--heldout-permille", type=int, default=20)
    p.add_argument("--max-train-mb", type=float, default=800)
    p.add_argument("--tokenizer-sample-mb", type=float, default=64)
    t = sub.add_parser("train")
    t.add_argument("--preset", choices=sorted(PRESETS), required=True)
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, help="exact step count (else calibrated from --train-seconds)")
    t.add_argument("--train-seconds", type=float, default=240)
    t.add_argument("--seed", type=int, default=1234)
    t.add_argument("--batch", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--aux-coef", type=float)
    t.add_argument("--seq-len", type=int)
    t.add_argument("--device")
    t.add_argument("--log-every", type=int, default=10)
    t.add_argument("--eval-every", type=int, default=250)
    t.add_argument("--curve-windows", type=int, default=64)
    t.add_argument("--heldout-windows", type=int, default=4000)
    t.add_argument("--converter-dir", help="folder with convert_hf_to_gguf.py and gguf-py/")
    args = ap.parse_args()
    if args.cmd == "prepare":
        cmd_prepare(args)
    else:
        cmd_train(args)


if __name__ == "__main__":
    main()
