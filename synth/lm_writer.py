"""Texts the LM writes itself from prompts: the default bridge's training data and DP generation's
public start population. Nothing real goes in, so nothing real can come out."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from smotext.synth.models import LanguageModel

SAMPLING = {"temperature": 0.9, "top_p": 0.95, "repetition_penalty": 1.15}


def clean(text: str) -> str | None:
    """A written text cut to at most two whole sentences, or None for a refusal, a preamble or a stub."""
    text = re.sub(r"\s+", " ", text).strip().strip('"').strip()
    # Keep whole sentences only (generation stops mid-sentence), at most two: user corpora hold short notes.
    sentences = re.findall(r"[^.!?]+[.!?]+", text)
    text = " ".join(s.strip() for s in sentences[:2]).strip()
    if len(text.split()) < 5 or text.lower().startswith(("i'm sorry", "as an ai", "sure", "here is", "here's")):
        return None
    return text


@torch.no_grad()
def write_batch(lm: LanguageModel, prompts: Sequence[str], seed: int, max_new_tokens: int = 40) -> list[str]:
    """One batch: each prompt as a chat turn, answered by sampling (seeded by ``seed``); raw replies."""
    tok = lm.tokenizer
    side, tok.padding_side = tok.padding_side, "left"  # left padding: every reply starts where its prompt ends
    try:
        chats = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
                 for p in prompts]
        enc = tok(chats, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
    finally:
        tok.padding_side = side
    torch.manual_seed(seed)
    ids = lm.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, pad_token_id=tok.pad_token_id, **SAMPLING)
    return tok.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def write_texts(lm: LanguageModel, prompts: Sequence[str], seed: int, *, batch_size: int = 32, max_new_tokens: int = 40,
                progress: bool = False, desc: str = "writing public texts") -> list[str | None]:
    """The LM's cleaned reply to each prompt (None where ``clean`` refused it), seeded per batch."""
    out: list[str | None] = []
    for b in tqdm(range(math.ceil(len(prompts) / batch_size)), desc=desc, unit="batch", disable=not progress):
        chunk = prompts[b * batch_size:(b + 1) * batch_size]
        out += [clean(t) for t in write_batch(lm, chunk, seed * 1_000_003 + b, max_new_tokens)]
    return out
