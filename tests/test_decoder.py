"""Decoding with the real SmolLM2 through a (tiny) trained bridge."""

import numpy as np
import pytest

from smotext.synth.bridge import BridgeConfig, ModelCard, init_bridge, load_bridge
from smotext.synth.decoder import Decoder, PromptTemplate, check_compatible
from smotext.errors import SmotextError


@pytest.fixture(scope="module")
def decoder(tiny_bridge_dir, lm):
    bridge, card = load_bridge(tiny_bridge_dir)
    return Decoder(bridge, card, lm, max_new_tokens=6, batch_size=2)


def test_prompt_puts_soft_tokens_between_instruction_and_answer(lm):
    t = PromptTemplate.build(lm.tokenizer, "Repeat the hidden text:")
    prefix = lm.tokenizer.decode(t.prefix_ids)
    suffix = lm.tokenizer.decode(t.suffix_ids)
    assert prefix.rstrip().endswith("Repeat the hidden text:") and "<|im_start|>user" in prefix
    assert suffix.startswith("<|im_end|>") and suffix.rstrip().endswith("assistant")


def test_greedy_decoding_gives_one_text_per_vector_and_repeats(decoder, text_embeddings):
    out = decoder.decode(text_embeddings[:3])
    assert len(out) == 3 and all(len(c) == 1 and isinstance(c[0], str) and c[0] for c in out)
    assert decoder.decode(text_embeddings[:3]) == out
    ids = decoder.generate_ids(*decoder.prompt(__import__("torch").as_tensor(text_embeddings[:1])))
    assert ids.shape[1] <= 6  # max_new_tokens holds


def test_sampling_gives_n_candidates_and_is_seeded(decoder, text_embeddings):
    a = decoder.decode(text_embeddings[:3], num_candidates=3, seed=11)
    assert [len(c) for c in a] == [3, 3, 3]
    assert decoder.decode(text_embeddings[:3], num_candidates=3, seed=11) == a
    assert len({t for c in a for t in c}) > 1


def test_a_temperature_samples_one_text_per_vector(tiny_bridge_dir, lm, text_embeddings):
    bridge, card = load_bridge(tiny_bridge_dir)
    dec = Decoder(bridge, card, lm, max_new_tokens=6, batch_size=4, temperature=1.5)
    vecs = np.repeat(text_embeddings[:1], 4, axis=0)  # one vector four times in one batch
    a = dec.decode(vecs, seed=3)
    assert [len(c) for c in a] == [1] * 4 and dec.decode(vecs, seed=3) == a
    assert len({c[0] for c in a}) > 1  # sampled: the same vector gives different texts (greedy gives one)
    greedy = Decoder(bridge, card, lm, max_new_tokens=6, batch_size=4).decode(vecs)
    assert len({c[0] for c in greedy}) == 1


def test_a_sampled_row_depends_on_its_seed_and_index_not_its_batch_or_shard(tiny_bridge_dir, lm, encoder, text_embeddings):
    bridge, card = load_bridge(tiny_bridge_dir)
    vecs = text_embeddings[:4]
    for options, n in (({"temperature": 1.2}, 1), ({}, 3), ({"embed": encoder.embed, "segment_tokens": 2}, 3)):
        whole = Decoder(bridge, card, lm, max_new_tokens=6, batch_size=4, **options).decode(vecs, num_candidates=n, seed=7)
        one_by_one = Decoder(bridge, card, lm, max_new_tokens=6, batch_size=1, **options)
        assert one_by_one.decode(vecs, num_candidates=n, seed=7) == whole, options
        # the last three rows decoded on their own, as a shard starting at row 1
        assert one_by_one.decode(vecs[1:], num_candidates=n, seed=7, first_row=1) == whole[1:], options
        assert Decoder(bridge, card, lm, max_new_tokens=6, batch_size=4, **options).decode(
            vecs, num_candidates=n, seed=8) != whole  # another seed, other samples


def test_the_batch_loop_writes_what_generate_writes_with_ended_rows_dropped(lm, text_embeddings):
    import torch

    from smotext.synth.decoder import row_seeds
    from smotext.synth.smotext import default_bridge_path

    bridge, card = load_bridge(default_bridge_path())
    vecs = torch.as_tensor(text_embeddings[:4])
    for options, n in (({}, 1), ({"temperature": 1.0, "top_p": 0.9}, 1), ({"temperature": 1.3}, 2)):
        dec = Decoder(bridge, card, lm, max_new_tokens=24, min_new_tokens=2, **options)
        seeds = row_seeds(5, range(4), n) if options else None
        fast = dec.generate_rows(vecs, n, seeds)
        slow = dec.generate_ids(*dec.prompt(vecs), num_candidates=n, seeds=seeds)
        assert fast.shape == slow.shape and torch.equal(fast, slow), options
        ended = (fast == lm.tokenizer.eos_token_id).float().argmax(1)
        assert ((ended > 0) & (ended < fast.shape[1] - 1)).any(), "no row left the batch early: the test checks nothing"


def test_the_nucleus_is_found_without_sorting_the_vocabulary_and_wide_ones_are_exact():
    import torch

    from smotext.synth.decoder import RowSampler, row_seeds

    g = torch.Generator().manual_seed(0)
    # peaked rows (small nuclei) and flat ones (nuclei of thousands of tokens)
    scores = torch.randn(40, 5000, generator=g) * torch.tensor([6.0, 0.5]).repeat(20)[:, None]
    seeds = row_seeds(1, range(40), 1)
    for k in (8, 1024):
        got = RowSampler(seeds, 1.0, 0.9, top_k=k).draw(scores, range(40))
        # the nucleus by a full sort, as the definition reads
        probs = scores.softmax(-1)
        sp = probs.sort(-1, descending=True).values
        floor = sp.gather(1, ((sp.cumsum(-1) - sp) < 0.9).sum(-1, keepdim=True) - 1)
        logits = scores.masked_fill(probs < floor, -float("inf"))
        u = torch.stack([torch.rand(5000, generator=torch.Generator().manual_seed(s)) for s in seeds])
        assert torch.equal(got, (logits - torch.log(-torch.log(u))).argmax(-1, keepdim=True)), k


def test_row_sampler_draws_from_the_tempered_nucleus():
    import torch

    from smotext.synth.decoder import RowSampler, row_seeds

    seeds = row_seeds(0, range(4000), 1)
    assert len(set(seeds)) == 4000
    scores = torch.log(torch.tensor([[0.1, 0.3, 0.6]])).expand(4000, -1)
    picked = RowSampler(seeds, 1.0, 1.0)(torch.zeros(4000, 0, dtype=torch.long), scores.clone()).argmax(1)
    share = torch.bincount(picked, minlength=3).double() / 4000
    assert torch.allclose(share, torch.tensor([0.1, 0.3, 0.6], dtype=torch.float64), atol=0.03)
    # top-p 0.5 keeps the most likely token only; temperature 0.5 sharpens towards it
    assert set(RowSampler(seeds, 1.0, 0.5)(None, scores.clone()).argmax(1).tolist()) == {2}
    sharp = RowSampler(seeds, 0.5, 1.0)(None, scores.clone()).argmax(1)
    assert (sharp == 2).double().mean() > 0.7  # 0.36 / (0.01 + 0.09 + 0.36) = 0.78


def test_bridge_for_other_models_is_refused(lm):
    wrong_encoder = ModelCard(BridgeConfig(in_dim=768, out_dim=lm.hidden_size, encoder="big-encoder"))
    with pytest.raises(SmotextError, match="expects 768-d vectors"):
        check_compatible(wrong_encoder, 384, lm)
    wrong_lm = ModelCard(BridgeConfig(in_dim=384, out_dim=2048, lm="big-lm"))
    with pytest.raises(SmotextError, match="writes 2048-d soft tokens"):
        check_compatible(wrong_lm, 384, lm)


def test_bad_decoding_settings_are_refused(lm):
    card = ModelCard(BridgeConfig(in_dim=384, out_dim=lm.hidden_size, n_tokens=1, hidden=4))
    with pytest.raises(SmotextError):
        Decoder(init_bridge(card.config, 0), card, lm, max_new_tokens=0)
    dec = Decoder(init_bridge(card.config, 0), card, lm, max_new_tokens=2)
    with pytest.raises(SmotextError):
        dec.decode(np.zeros((1, 384), dtype=np.float32), num_candidates=0)


def test_segment_search_goes_on_from_the_closest_continuation(tiny_bridge_dir, lm, encoder, text_embeddings):
    calls: list[list[str]] = []

    def spy(texts):
        calls.append(list(texts))
        return encoder.embed(texts)

    bridge, card = load_bridge(tiny_bridge_dir)
    dec = Decoder(bridge, card, lm, max_new_tokens=6, batch_size=2, embed=spy, segment_tokens=2)
    out = dec.decode(text_embeddings[:3], num_candidates=3, seed=5)
    assert [len(c) for c in out] == [3, 3, 3]
    for cands, t in zip(out, text_embeddings[:3]):  # closest first
        assert np.all(np.diff(encoder.embed(cands) @ t) <= 1e-5)
    calls.clear()
    assert dec.decode(text_embeddings[:3], num_candidates=3, seed=5) == out
    # One vector at a time: each segment's three continuations extend the closest text of the segment before.
    for t in text_embeddings[:3]:
        calls.clear()
        dec.decode(t[None], num_candidates=3, seed=5)
        for before, after in zip(calls, calls[1:]):
            kept = before[int(np.argmax(encoder.embed(before) @ t))]
            assert all(a.startswith(kept) for a in after), (kept, after)
    assert len(calls) >= 2  # the last vector was searched over more than one segment


def test_prior_tokens_count_for_the_repetition_penalty():
    import torch
    from transformers import RepetitionPenaltyLogitsProcessor

    from smotext.synth.decoder import PriorTokensPenalty

    scores = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    new = torch.tensor([[3]])
    none_before = PriorTokensPenalty(torch.zeros(1, 0, dtype=torch.long), 2.0)(new, scores.clone())
    assert torch.equal(none_before, RepetitionPenaltyLogitsProcessor(2.0)(new, scores.clone()))
    with_prior = PriorTokensPenalty(torch.tensor([[0, 1]]), 2.0)(new, scores.clone())
    assert torch.allclose(with_prior, torch.tensor([[1.0, -2.0, 0.5, 1.5]]))


def test_segment_search_needs_an_encoder_and_a_positive_step(tiny_bridge_dir, lm, encoder):
    bridge, card = load_bridge(tiny_bridge_dir)
    with pytest.raises(SmotextError, match="needs embed"):
        Decoder(bridge, card, lm, segment_tokens=4)
    with pytest.raises(SmotextError, match="segment_tokens"):
        Decoder(bridge, card, lm, segment_tokens=0, embed=encoder.embed)


def test_the_nucleus_is_the_bridges_unless_given_and_a_tiny_one_decodes_like_greedy(tiny_bridge_dir, lm, text_embeddings):
    from smotext.synth.params import TOP_P, SINGLE_TOP_P

    bridge, card = load_bridge(tiny_bridge_dir)
    adapted = Decoder(bridge, card, lm, single_temperature=1.0, single_top_p=SINGLE_TOP_P)
    assert adapted.top_p_for(1) == SINGLE_TOP_P and adapted.top_p_for(3) == TOP_P  # best-of-n keeps its own
    assert Decoder(bridge, card, lm, temperature=1.0, single_top_p=SINGLE_TOP_P).top_p_for(1) == TOP_P  # T given
    assert Decoder(bridge, card, lm, top_p=0.5, single_top_p=SINGLE_TOP_P).top_p_for(1) == 0.5
    vecs = text_embeddings[:3]
    greedy = Decoder(bridge, card, lm, max_new_tokens=6, batch_size=3).decode(vecs)
    hot = dict(max_new_tokens=6, batch_size=3, temperature=1.5)
    assert Decoder(bridge, card, lm, top_p=1e-6, **hot).decode(vecs, seed=5) == greedy  # only the top token is left
    assert Decoder(bridge, card, lm, top_p=1.0, **hot).decode(vecs, seed=5) != greedy
