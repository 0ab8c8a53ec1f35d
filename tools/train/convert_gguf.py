#!/usr/bin/env python3
"""Runs llama.cpp's convert_hf_to_gguf.py on a checkpoint from train_moe.py.

The converter identifies a BPE pre-tokenizer by hashing the token ids of a test
string and refuses tokenizers it has not seen; ours is freshly trained, so its
hash is new although its pre-tokenizer is exactly Llama-3's split regex. This
wrapper replaces the hash lookup by the id given with --pre (default
`llama-bpe`, the id whose regex tools/train/data.py uses) and otherwise runs
the converter unchanged.

  python3 tools/train/convert_gguf.py --converter-dir DIR [--pre llama-bpe] \
      --outtype q8_0 --outfile model.gguf HF_CHECKPOINT_DIR

DIR holds convert_hf_to_gguf.py, conversion/ and gguf-py/ from the same
llama.cpp tree (scripts/get-llama-cpp-converter.sh prints such a folder).
"""

import argparse
import os
import sys

KNOWN_PRE = ("llama-bpe", "qwen2", "gpt-2")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--converter-dir", required=True)
    ap.add_argument("--pre", default="llama-bpe", choices=KNOWN_PRE)
    args, rest = ap.parse_known_args()
    conv = os.path.abspath(args.converter_dir)
    if not os.path.isfile(os.path.join(conv, "convert_hf_to_gguf.py")):
        sys.exit(f"convert_gguf.py: no convert_hf_to_gguf.py in {conv}")
    sys.path.insert(0, os.path.join(conv, "gguf-py"))
    sys.path.insert(0, conv)
    import convert_hf_to_gguf
    from conversion import base

    def fixed_pre(self, tokenizer):
        del self, tokenizer
        return args.pre

    base.TextModel.get_vocab_base_pre = fixed_pre
    sys.argv = [os.path.join(conv, "convert_hf_to_gguf.py")] + rest
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main()
