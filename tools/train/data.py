"""Corpus and tokenizer for the hobbit MoE training run.

The corpus is the Python source (code, comments and docstrings) installed on the
machine that trains: every `.py` file under the running interpreter's
site-packages and standard library. That text exists offline on the GPU
machine, so a training call needs nothing but this repository.

Recipe (all of it is recorded in recipe.json):
  * files: `*.py` under the roots, 256 B .. 512 KiB, valid UTF-8, no line over
    2000 characters, mean line length under 120 (drops generated tables), no
    literal special-token text;
  * exact duplicates (same SHA-1 of the bytes) are dropped, keeping the first
    path in sorted order;
  * split by FILE: a file is held out when the SHA-1 of its root-relative path,
    read as an integer, is < heldout_permille/1000 of the range. Training never
    reads a held-out file;
  * the tokenizer is a byte-level BPE (tokenizers library) whose pre-tokenizer
    is the Llama-3 split regex (GGUF `tokenizer.ggml.pre = llama-bpe`) followed
    by the GPT-2 byte-to-unicode map; it is trained on a deterministic sample of
    the training files only;
  * each document is stored as <|bos|> tokens <|eos|>, concatenated, uint16.
"""

import hashlib
import json
import os
import site
import sysconfig
import time

import numpy as np

BOS = "<|bos|>"
EOS = "<|eos|>"
SPECIAL_TOKENS = [BOS, EOS]  # ids 0 and 1

# Llama-3 pre-tokenizer regex (llama.cpp pre id "llama-bpe"); formats.md section 4.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

MIN_BYTES = 256
MAX_BYTES = 512 * 1024
MAX_LINE = 2000
MAX_MEAN_LINE = 120


def default_roots():
    """(label, path) for site-packages and the standard library of this Python."""
    roots = []
    for i, path in enumerate(sorted(set(site.getsitepackages()))):
        if os.path.isdir(path):
            roots.append((f"site{i}", path))
    stdlib = sysconfig.get_paths()["stdlib"]
    if os.path.isdir(stdlib):
        roots.append(("stdlib", stdlib))
    return roots


def _path_hash(rel):
    return int(hashlib.sha1(rel.encode()).hexdigest()[:15], 16) / float(16**15)


def _accept(text):
    if BOS in text or EOS in text:
        return "special"
    lines = text.split("\n")
    if max(len(line) for line in lines) > MAX_LINE:
        return "long_line"
    if len(text) / max(1, len(lines)) > MAX_MEAN_LINE:
        return "mean_line"
    return None


def collect_files(roots, heldout_permille):
    """Returns (train_docs, heldout_docs, stats); docs are (relpath, text)."""
    entries = []
    for label, root in roots:
        # The stdlib root contains site-packages itself; skip it there.
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames
                                 if not (label == "stdlib" and d in ("site-packages", "dist-packages"))
                                 and d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".py"):
                    full = os.path.join(dirpath, name)
                    entries.append((f"{label}/{os.path.relpath(full, root)}", full))
    entries.sort()
    stats = {"files_seen": len(entries), "rejected": {}, "duplicates": 0}
    seen = set()
    train, heldout = [], []
    for rel, full in entries:
        try:
            size = os.path.getsize(full)
            if size < MIN_BYTES or size > MAX_BYTES:
                stats["rejected"]["size"] = stats["rejected"].get("size", 0) + 1
                continue
            with open(full, "rb") as f:
                raw = f.read()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            stats["rejected"]["unreadable"] = stats["rejected"].get("unreadable", 0) + 1
            continue
        why = _accept(text)
        if why:
            stats["rejected"][why] = stats["rejected"].get(why, 0) + 1
            continue
        digest = hashlib.sha1(raw).digest()
        if digest in seen:
            stats["duplicates"] += 1
            continue
        seen.add(digest)
        (heldout if _path_hash(rel) < heldout_permille / 1000.0 else train).append((rel, text))
    return train, heldout, stats


def _shuffled(docs, salt):
    """Deterministic order independent of the walk: by SHA-1 of salt + path."""
    return sorted(docs, key=lambda d: hashlib.sha1((salt + d[0]).encode()).digest())


def train_tokenizer(docs, vocab_size, sample_bytes):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)
    sample, total = [], 0
    for _, text in _shuffled(docs, "tokenizer-sample"):
        if total >= sample_bytes:
            break
        sample.append(text)
        total += len(text.encode())
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(sample, trainer=trainer, length=len(sample))
    bos_id = tok.token_to_id(BOS)
    # encode() adds <|bos|> (matches tokenizer.ggml.add_bos_token = true).
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B:1", special_tokens=[(BOS, bos_id)])
    return tok, {"tokenizer_sample_files": len(sample), "tokenizer_sample_bytes": total}


def encode_docs(tok, docs, chunk=512):
    """Concatenates <|bos|> doc <|eos|> for every doc; returns uint16 array."""
    bos, eos = tok.token_to_id(BOS), tok.token_to_id(EOS)
    assert tok.get_vocab_size() <= 65536
    parts = []
    for i in range(0, len(docs), chunk):
        texts = [text for _, text in docs[i:i + chunk]]
        for enc in tok.encode_batch_fast(texts, add_special_tokens=False):
            ids = np.empty(len(enc.ids) + 2, dtype=np.uint16)
            ids[0] = bos
            ids[1:-1] = enc.ids
            ids[-1] = eos
            parts.append(ids)
    return np.concatenate(parts) if parts else np.zeros(0, np.uint16)


def write_hf_tokenizer_files(tok, out_dir, seq_len):
    """tokenizer.json + tokenizer_config.json + special_tokens_map.json."""
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS, "eos_token": EOS,
        "add_bos_token": True, "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": seq_len,
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": BOS, "eos_token": EOS}, f, indent=2)


def prepare(out_dir, vocab_size, heldout_permille, max_train_bytes, tokenizer_sample_bytes,
            roots=None, log=print):
    """Builds train.bin / heldout.bin / tokenizer files / recipe.json in out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.time()
    roots = roots or default_roots()
    train, heldout, stats = collect_files(roots, heldout_permille)
    train = _shuffled(train, "train-order")
    kept, total = [], 0
    for doc in train:
        n = len(doc[1].encode())
        if total + n > max_train_bytes:
            break
        kept.append(doc)
        total += n
    dropped_for_cap = len(train) - len(kept)
    train = kept
    log(f"data: {len(train)} train files ({total / 1e6:.1f} MB), {len(heldout)} held-out files, "
        f"{stats['duplicates']} duplicates, rejected {stats['rejected']} ({time.time() - t0:.1f}s)")
    t1 = time.time()
    tok, tok_stats = train_tokenizer(train, vocab_size, tokenizer_sample_bytes)
    log(f"tokenizer: vocab {tok.get_vocab_size()} trained on {tok_stats['tokenizer_sample_bytes'] / 1e6:.1f} MB "
        f"({time.time() - t1:.1f}s)")
    t2 = time.time()
    train_ids = encode_docs(tok, train)
    heldout_ids = encode_docs(tok, _shuffled(heldout, "heldout-order"))
    log(f"encode: {train_ids.size / 1e6:.2f}M train tokens, {heldout_ids.size / 1e6:.3f}M held-out tokens "
        f"({time.time() - t2:.1f}s)")
    train_ids.tofile(os.path.join(out_dir, "train.bin"))
    heldout_ids.tofile(os.path.join(out_dir, "heldout.bin"))
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    heldout_bytes = sum(len(t.encode()) for _, t in heldout)
    recipe = {
        "roots": [{"label": label, "path": path} for label, path in roots],
        "filters": {"suffix": ".py", "min_bytes": MIN_BYTES, "max_bytes": MAX_BYTES,
                    "max_line_chars": MAX_LINE, "max_mean_line_chars": MAX_MEAN_LINE,
                    "utf8": True, "dedup": "sha1 of bytes, first path in sorted order kept",
                    "no_literal_special_tokens": SPECIAL_TOKENS},
        "split": {"by": "sha1(root-label/relative-path)", "heldout_permille": heldout_permille},
        "files_seen": stats["files_seen"], "rejected": stats["rejected"], "duplicates": stats["duplicates"],
        "train_files": len(train), "train_files_dropped_for_byte_cap": dropped_for_cap,
        "max_train_bytes": max_train_bytes, "train_bytes": total,
        "heldout_files": len(heldout), "heldout_bytes": heldout_bytes,
        "train_tokens": int(train_ids.size), "heldout_tokens": int(heldout_ids.size),
        "bytes_per_token_train": total / max(1, train_ids.size - 2 * len(train)),
        "tokenizer": {"type": "byte-level BPE (tokenizers)", "vocab_size": tok.get_vocab_size(),
                      "pre_tokenizer": "llama-bpe split regex + ByteLevel(use_regex=False)",
                      "ignore_merges": True, "special_tokens": {BOS: 0, EOS: 1},
                      "document_layout": "<|bos|> text <|eos|>", **tok_stats},
        "heldout_sample_paths": sorted(rel for rel, _ in heldout)[:20],
        "seconds": time.time() - t0,
    }
    with open(os.path.join(out_dir, "recipe.json"), "w") as f:
        json.dump(recipe, f, indent=2)
    return recipe
