"""The offline PII scanner on sentences with known entities (real presidio + spaCy)."""

import socket

import pytest

from smotext.audit.pii import get_scanner, mask, value_tokens

SENTENCES = [
    ("Please call Maria Fernandez at 212-555-0187 tomorrow.", {"PERSON", "PHONE_NUMBER"}),
    ("Send the results to john.okafor@example.org before Friday.", {"EMAIL_ADDRESS"}),
    ("His social security number is 536-22-8719.", {"US_SSN"}),
    ("The patient was born on 03/14/1962 and admitted on 21 June 2023.", {"DATE_TIME"}),
    ("Card 4111 1111 1111 1111 was charged twice.", {"CREDIT_CARD"}),
    ("The printer on the third floor is jammed again.", set()),
]


@pytest.fixture(scope="module")
def scanner():
    return get_scanner(0.4)


@pytest.mark.parametrize("text, expected", SENTENCES)
def test_finds_the_planted_entities(scanner, text, expected):
    found = {e.type for e in scanner.scan([text])[0]}
    assert expected <= found
    if not expected:
        assert not found & {"PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS", "US_SSN", "CREDIT_CARD"}


def test_entity_spans_point_at_the_value(scanner):
    (ents,) = scanner.scan(["Write to anna.berg@example.com today."])
    email = [e for e in ents if e.type == "EMAIL_ADDRESS"][0]
    assert email.text == "anna.berg@example.com" and email.score >= 0.4


def test_scan_makes_no_network_call(scanner, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the PII scan tried to reach the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    ents = scanner.scan(["Mail bob.stone@example.net or visit https://example.net/help"])[0]
    assert {"EMAIL_ADDRESS", "URL"} <= {e.type for e in ents}


def test_mask_and_value_tokens(scanner):
    text = "Call Maria Fernandez at (212) 555-0187."
    masked = mask(text, scanner.scan([text])[0])
    assert "Maria" not in masked and "555-0187" not in masked and "<PERSON>" in masked
    assert value_tokens("(212) 555-0187.") == ("212", "555-0187")


def test_a_scan_in_two_processes_finds_what_one_process_finds(scanner):
    texts = [t for t, _ in SENTENCES] * 24  # 144 texts: two batches of 64 and a rest, one per process
    one = scanner.scan(texts, processes=1)
    assert scanner.scan(texts, processes=2) == one
    assert sum(1 for ents in one if ents) >= 5 * 24
