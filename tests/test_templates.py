"""Form letters and macros: texts that recur word for word across customers over days are not symptoms."""

from __future__ import annotations

from correlate.detectors.templates import TemplateBook
from test_symptom import BURST_AT, DAY, HOUR, T0, all_findings, burst, contact, quiet_day, replay

FORM_LETTER = (
    "I am writing to dispute the following accounts on my credit report under the Fair Credit Reporting Act, "
    "section 609, which are inaccurate and unverified"
)


def test_a_form_letter_sent_again_the_next_day_is_a_template() -> None:
    book = TemplateBook(apart=HOUR)
    assert not book.observe("form letter", "a", T0)
    assert not book.observe("form letter", "b", T0 + 60)
    # A day later: two writers sent it before, one of them more than a window earlier.
    assert book.observe("form letter", "c", T0 + DAY)
    assert book.observe("form letter", "d", T0 + DAY + 60)


def test_copies_within_the_hour_are_not_a_template() -> None:
    book = TemplateBook(apart=HOUR)
    assert [book.observe("same words", who, T0 + i * 600) for i, who in enumerate("abcde")] == [False] * 5


def test_a_writer_repeating_their_own_text_does_not_make_it_a_template() -> None:
    book = TemplateBook(apart=HOUR)
    book.observe("my text", "a", T0)
    book.observe("my text", "b", T0 + 60)
    assert not book.observe("my text", "a", T0 + DAY)  # only one other writer, however often "a" writes


def test_templates_are_forgotten_after_the_horizon() -> None:
    book = TemplateBook(apart=HOUR, horizon=2 * DAY)
    book.observe("old letter", "a", T0)
    book.observe("old letter", "b", T0 + 60)
    book.observe("another", "z", T0 + 5 * DAY)
    assert len(book) == 1  # "another" alone
    assert not book.observe("old letter", "c", T0 + 5 * DAY)


def test_a_form_letter_that_circulates_opens_no_symptom_incident() -> None:
    """Two consumers send it on the first day, three within an hour two days later: without telling templates
    apart, the three look like a rare symptom (two reporters in two days) and open an incident."""
    letters = [*burst(T0 + 2 * HOUR, [FORM_LETTER] * 2), *burst(BURST_AT + DAY, [FORM_LETTER] * 3)]
    letters = [contact(record.ts, f"consumer{n}", record.text) for n, record in enumerate(letters)]
    quiet = [*quiet_day(), *quiet_day(T0 + DAY), *quiet_day(T0 + 2 * DAY)]
    _, findings = replay([*quiet, *letters])
    assert all_findings(findings) == []


def test_the_copies_control_still_opens_an_incident() -> None:
    """The same narrative word for word from three customers, never sent before: a fault, not a template."""
    _, findings = replay([*quiet_day(), *burst(BURST_AT, [FORM_LETTER] * 3)])
    assert [f.observed for f in all_findings(findings)][:1] == [3.0]
