"""Masking, pseudonymising and restoring: placeholders are stable across messages, and an answer streamed in
deltas gets its values back even when a placeholder is cut between two deltas."""

from __future__ import annotations

import pytest

from parley.privacy.detection import Detector
from parley.privacy.redaction import PseudonymMap, StreamRestorer, described, mask, pseudonymise
from parley.privacy.settings import PrivacySettings


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(PrivacySettings())


def test_mask_is_irreversible_and_names_the_kind(detector: Detector) -> None:
    text = "Mail anna.schmidt@example.de or call +49 30 12345678."
    assert mask(text, detector.detect(text)) == "Mail <EMAIL> or call <PHONE>."


def test_same_value_same_placeholder_across_messages(detector: Detector) -> None:
    mapping = PseudonymMap()
    first = "Anna Schmidt wrote from anna.schmidt@example.de."
    second = "Forward it to anna.schmidt@example.de and bob@example.org, please."
    one = pseudonymise(first, detector.detect(first), mapping)
    two = pseudonymise(second, detector.detect(second), mapping)
    assert one == "<PERSON_1> wrote from <EMAIL_1>."
    assert two == "Forward it to <EMAIL_1> and <EMAIL_2>, please."
    # Stored and read back (the conversation's map), numbering goes on where it was.
    again = PseudonymMap.from_bytes(mapping.to_bytes())
    third = "Copy carol@example.net."
    assert pseudonymise(third, detector.detect(third), again) == "Copy <EMAIL_3>."
    assert again.restore("Sent to <EMAIL_1> and <EMAIL_3> for <PERSON_1>.") == (
        "Sent to anna.schmidt@example.de and carol@example.net for Anna Schmidt."
    )


class TestStreamRestorer:
    mapping = PseudonymMap(values={"PERSON_1": "Anna Schmidt", "EMAIL_1": "anna@example.de"})

    def restored(self, deltas: list[str]) -> list[str]:
        restorer = StreamRestorer(self.mapping)
        return [*(restorer.feed(delta) for delta in deltas), restorer.flush()]

    def test_placeholder_split_over_deltas(self) -> None:
        out = self.restored(["Dear <PER", "SON", "_1>, write to <", "EMAIL_1>", " today."])
        assert "".join(out) == "Dear Anna Schmidt, write to anna@example.de today."
        # Only the possible placeholder was held back; ordinary text went out with its own delta.
        assert out[0] == "Dear "
        assert out[4] == " today."

    def test_ordinary_angle_brackets_are_not_held(self) -> None:
        out = self.restored(["if a < b", " and x<y> or <b>bold</b>", " <UNKNOWN_4> stays"])
        assert out[0] == "if a < b"
        assert "".join(out) == "if a < b and x<y> or <b>bold</b> <UNKNOWN_4> stays"

    def test_a_trailing_partial_placeholder_is_flushed_as_written(self) -> None:
        assert self.restored(["the end <PERS"]) == ["the end ", "<PERS"]


def test_block_names_kinds_in_words() -> None:
    assert described(["IBAN_CODE", "EMAIL_ADDRESS", "EMAIL_ADDRESS"]) == ["an IBAN", "an email address"]
