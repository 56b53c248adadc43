"""The sentence encoder: repeated texts, bfloat16 arithmetic (real all-MiniLM-L6-v2)."""

import numpy as np
import pytest

from smotext.errors import SmotextError

TEXTS = ["The clinic moved my appointment to Friday.", "Refund the second charge, please.",
         "The clinic moved my appointment to Friday.", "Where is my parcel?"]


def test_a_repeated_text_is_embedded_once_and_gets_the_same_row(encoder):
    emb = encoder.embed(TEXTS)
    assert emb.shape == (4, encoder.dim) and emb.dtype == np.float32
    np.testing.assert_array_equal(emb[0], emb[2])
    np.testing.assert_allclose(emb[[0, 1, 3]], encoder.embed([TEXTS[0], TEXTS[1], TEXTS[3]]), atol=1e-5)


def test_bfloat16_rows_are_unit_vectors_close_to_float32(encoder):
    full = encoder.embed(TEXTS, precision="float32")
    half = encoder.embed(TEXTS, precision="bfloat16")
    np.testing.assert_allclose(np.linalg.norm(half, axis=1), 1.0, atol=1e-5)
    assert (full * half).sum(1).min() > 0.999
    assert not np.array_equal(full, half)  # the arithmetic did change


def test_an_unknown_precision_is_refused(encoder):
    with pytest.raises(SmotextError, match="precision must be one of"):
        encoder.embed(TEXTS, precision="float8")
