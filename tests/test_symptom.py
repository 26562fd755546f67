"""The rare-symptom detector, as a user would notice it: which few customers' words open an incident."""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np
import pytest

from correlate.contracts import Contact, validate
from correlate.detectors.base import Detector, Finding
from correlate.detectors.similarity import (
    _MULTIPLIERS,
    Sketch,
    Sketcher,
    SymptomIndex,
    _Columns,
    _Recent,
    band_keys,
    content_words,
    normalise,
    one_typo_apart,
    signature,
)
from correlate.detectors.symptom import SymptomDetector, _TypoIndex, _WordTally
from correlate.stitch import Stitcher

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z
HOUR = 3600.0
DAY = 86_400.0
STEP = 300.0
SONIQUE = {"device_brand": "Sonique", "service": "StreamPlus", "region": "north"}
POST_COMMENT = (
    "Can't post a comment on the live stream!!",
    "cant post coment on live strem",
    "Cannot post comments on the livestream",
)


def contact(
    ts: float,
    customer: str,
    text: str | None,
    dims: dict[str, str] | None = None,
    *,
    channel: str = "app",
    count: int = 1,
    source: str = "app",
) -> Contact:
    record = validate(
        {
            "contact_id": f"{customer}-{channel}-{ts}",
            "ts": ts,
            "channel": channel,
            "customer_id": customer,
            "source": source,
            "dimensions": SONIQUE if dims is None else dims,
            "text": text,
            "count": count,
        }
    )
    assert isinstance(record, Contact), record
    return record


def quiet_day(start: float = T0) -> list[Contact]:
    """A day of contacts without free text: the detector has watched, and no symptom was seen."""
    return [contact(start + i * 600.0, f"bg{i}", None) for i in range(144)]


def replay(contacts: Iterable[Contact], detector: SymptomDetector | None = None, until: float | None = None):
    """Feed contacts step by step like the pipeline does; return (detector, findings by step end)."""
    detector = detector or SymptomDetector()
    stitcher = Stitcher(window=3600)
    ordered = sorted(contacts, key=lambda c: c.ts)
    end = until if until is not None else ordered[-1].ts + STEP
    findings: dict[float, list[Finding]] = {}
    step_end, i = T0 + STEP, 0
    while step_end <= end:
        while i < len(ordered) and ordered[i].ts <= step_end:
            detector.observe(stitcher.stitch(ordered[i]))
            i += 1
        found = detector.close_step(step_end)
        if found:
            findings[step_end] = found
        step_end += STEP
    return detector, findings


def burst(start: float, texts: Iterable[str], dims: dict[str, str] | None = None, gap: float = 1200.0):
    return [contact(start + n * gap, f"cust{n}", text, dims) for n, text in enumerate(texts)]


def all_findings(findings: dict[float, list[Finding]]) -> list[Finding]:
    return [f for found in findings.values() for f in found]


BURST_AT = T0 + DAY + 10.0


def test_three_customers_with_typos_on_one_brand_and_service_open_a_symptom_incident() -> None:
    detector, findings = replay([*quiet_day(), *burst(BURST_AT, POST_COMMENT)])
    first = min(findings)
    assert BURST_AT + 2400 <= first <= BURST_AT + 2400 + STEP  # as soon as the third customer writes
    (finding,) = findings[first]
    assert finding.kind == "symptom"
    assert finding.scope == (("device_brand", "Sonique"), ("service", "StreamPlus"))
    assert finding.observed == 3
    assert finding.p_value <= finding.threshold
    assert finding.tests >= 1 and finding.window == 3600
    assert finding.sample_texts[0] in POST_COMMENT  # readable: as a customer wrote it
    assert set(finding.sample_texts) == set(POST_COMMENT)
    assert detector.is_elevated(finding.scope)


def test_two_customers_are_not_enough() -> None:
    _, findings = replay([*quiet_day(), *burst(BURST_AT, POST_COMMENT[:2])])
    assert findings == {}


def test_one_customer_on_three_channels_is_one_reporter() -> None:
    same_customer = [
        contact(BURST_AT + n * 600, "alice", text, channel=channel)
        for n, (text, channel) in enumerate(zip(POST_COMMENT, ("app", "email", "chat"), strict=True))
    ]
    _, findings = replay([*quiet_day(), *same_customer])
    assert findings == {}


def test_the_same_texts_spread_over_three_hours_do_not_fire() -> None:
    _, findings = replay([*quiet_day(), *burst(BURST_AT, POST_COMMENT, gap=1.5 * HOUR)])
    assert findings == {}


def test_a_complaint_common_every_day_does_not_fire_but_a_rare_one_does() -> None:
    remote = "my remote doesn't work"
    brands = ["Sonique", "Vexa", "Orbit", "Lumo", "Kestrel", "Tandem"]
    daily = [  # 12 customers a day, 2 a day per brand: rare on any one brand, common everywhere
        contact(T0 + n * 2 * HOUR, f"daily{n}", remote, {**SONIQUE, "device_brand": brands[n % 6]}) for n in range(36)
    ]
    peak_at = T0 + 3 * DAY + 10
    peak = burst(peak_at, ["My remote does not work!", "remote doesnt work", "my remote doesnt work"], gap=600)
    partner = contact(peak_at, "partner-7", remote, count=20, source="partner:acme")
    rare = [contact(peak_at + n * 600, f"rare{n}", text) for n, text in enumerate(POST_COMMENT)]
    _, findings = replay([*daily, *peak, partner, *rare])
    found = all_findings(findings)
    assert found, "the rare complaint at the same time must still fire"
    assert all(f.sample_texts[0] in POST_COMMENT for f in found)


def test_an_everyday_complaint_stays_known_through_quiet_hours() -> None:
    # Four customers every six hours, for five days: quiet in between, and never forgotten while it recurs.
    remote = "my remote doesn't work"
    bursts = [contact(T0 + h * 6 * HOUR + n * 300, f"c{h}-{n}", remote) for h in range(20) for n in range(4)]
    detector = SymptomDetector(rarity_horizon=DAY)
    _, findings = replay(bursts, detector)
    assert findings == {}


def test_a_rewording_joins_a_rare_symptom_of_the_same_hour() -> None:
    texts = ["posting a comment on a live stream fails", "comments wont post during the live stream"]
    _, findings = replay([*quiet_day(), *burst(BURST_AT, [POST_COMMENT[0], *texts], gap=600)])
    assert {f.observed for f in all_findings(findings)} == {3}
    _, findings = replay([*quiet_day(), *burst(BURST_AT, [POST_COMMENT[0], *texts], gap=1.5 * HOUR)])
    assert findings == {}  # spread over hours, they are three separate complaints


GERMAN_CAPTIONS = (
    "captions come up in german since the firmware patch",
    "after the patch all captions are german",
    "german captions turn on with the new patch",
)


def test_rewordings_that_share_a_faults_rare_words_are_one_symptom() -> None:
    sketcher, index = Sketcher(), SymptomIndex(0.6)
    sketches = [sketcher.sketch(text) or pytest.fail(text) for text in GERMAN_CAPTIONS]
    assert len({index.assign(sketch, 0.45) for sketch in sketches}) == 3  # too few shared 3-grams to meet
    _, findings = replay([*quiet_day(), *burst(BURST_AT, GERMAN_CAPTIONS, gap=600)])
    (finding, *_) = all_findings(findings)
    assert finding.observed == 3
    assert set(finding.sample_texts) == set(GERMAN_CAPTIONS)


def test_a_rewording_with_its_rare_words_misspelt_still_joins() -> None:
    # Each of the last two misspells one of the words it shares with the first ("ptach", "germna"): as written,
    # they share too small a part of their rare words to join (2 of 5, 2 of 6).
    texts = (
        GERMAN_CAPTIONS[0],
        "after the ptach all captions are german",
        "germna captions turn on with the new patch",
    )
    _, findings = replay([*quiet_day(), *burst(BURST_AT, texts, gap=600)])
    (finding, *_) = all_findings(findings)
    assert finding.observed == 3
    # A digit off is another error code, not a misspelling: these share one word, "box".
    codes = ("the box shows 4417 on boot", "4418 appears, then the box freezes", "4419 and the box reboots")
    _, findings = replay([*quiet_day(), *burst(BURST_AT, codes, gap=600)])
    assert findings == {}


def test_words_join_rewordings_only_once_the_detector_has_watched_for_a_day() -> None:
    # In the first hours every word is rare: everyday complaints that end alike ("since this morning") would join.
    detector, _ = replay(burst(T0 + 10, GERMAN_CAPTIONS, gap=600))
    assert len(detector._index) == 3
    detector, _ = replay([*quiet_day(), *burst(BURST_AT, GERMAN_CAPTIONS, gap=600)])
    assert len(detector._index) == 1


def test_one_shared_rare_word_does_not_make_one_symptom() -> None:
    texts = (GERMAN_CAPTIONS[0], "menus are in german", "german voiceover")  # one word is half of two
    _, findings = replay([*quiet_day(), *burst(BURST_AT, texts, gap=600)])
    assert findings == {}


def test_everyday_boilerplate_does_not_hide_a_new_symptom() -> None:
    everyday = "screen goes black when booting, tried restarting the box"
    new = (
        "screen goes purple when mirroring, tried restarting the box",
        "mirroring turns the screen purple, tried restarting the box",
        "screen goes purple while mirroring, tried restarting the box",
    )
    sketcher, index = Sketcher(), SymptomIndex(0.6)
    known, first = (sketcher.sketch(text) or pytest.fail(text) for text in (everyday, new[0]))
    index.establish(index.assign(known))
    assert index.established_neighbours([first], 0.45)  # near an everyday complaint, by 3-grams
    daily = [contact(T0 + n * 2 * HOUR, f"daily{n}", everyday) for n in range(36)]
    _, findings = replay([*daily, *burst(T0 + 3 * DAY + 10, new, gap=600)])
    assert {f.observed for f in all_findings(findings)} == {3}  # yet writers share "purple" and "mirroring"


def test_content_words_fold_plurals_and_endings_and_drop_short_words() -> None:
    assert content_words(normalise("Comments won't post during the live streams")) == {
        "comment",
        "wont",
        "post",
        "dur",
        "live",
        "stream",
    }
    assert content_words(normalise("stuck at 99% on box 7")) == {"stuck", "99", "box"}
    assert one_typo_apart("remte", "remote") and one_typo_apart("recieve", "receive")
    assert not one_typo_apart("mirror", "mirror") and not one_typo_apart("purple", "people")


def test_misspellings_of_an_everyday_complaint_are_not_a_new_fault() -> None:
    remote, stray = "my remote doesn't work", "my remte doesnt wrk"
    sketcher, index = Sketcher(), SymptomIndex(0.6)
    common, misspelt = (sketcher.sketch(text) or pytest.fail(text) for text in (remote, stray))
    assert index.assign(common) != index.assign(misspelt)  # too far to be one symptom...
    index.establish(index.assign(common))
    assert index.established_neighbours([misspelt], 0.45)  # ...near enough to be its neighbour
    daily = [contact(T0 + n * 2 * HOUR, f"daily{n}", remote) for n in range(36)]
    strays = burst(T0 + 3 * DAY + 10, [stray] * 3)
    _, findings = replay([*daily, *strays])
    assert findings == {}


def test_nothing_is_reported_before_the_detector_has_watched_for_a_day() -> None:
    first_hour = burst(T0 + 10, [*POST_COMMENT, *POST_COMMENT], gap=300)
    _, findings = replay(first_hour)
    assert findings == {}
    _, findings = replay([*quiet_day(), *burst(BURST_AT, [*POST_COMMENT, *POST_COMMENT], gap=300)])
    assert findings != {}


def test_a_finding_depends_only_on_contacts_up_to_the_end_of_its_step() -> None:
    past = [*quiet_day(), *burst(BURST_AT, POST_COMMENT[:2], gap=600)]
    step_end = T0 + DAY + 3 * STEP
    third = contact(step_end + 1, "cust2", POST_COMMENT[2])  # just after the step, delivered early
    detector = SymptomDetector()
    stitcher = Stitcher(window=3600)
    for c in past:
        detector.observe(stitcher.stitch(c))
    detector.observe(stitcher.stitch(third))
    assert detector.close_step(step_end) == []
    assert [f.observed for f in detector.close_step(step_end + STEP)] == [3]

    # Findings up to a step are the same whatever happens after it.
    base = [*quiet_day(), *burst(BURST_AT, POST_COMMENT)]
    later = burst(BURST_AT + 3000, ["cant post comment on live stream"] * 3)
    cut = BURST_AT + 2 * HOUR
    _, without = replay(base, until=cut)
    _, with_later = replay([*base, *[contact(c.ts, c.customer_id + "x", c.text) for c in later]], until=cut)
    before_later = BURST_AT + 3000

    def up_to_later(findings: dict[float, list[Finding]]) -> dict[float, list[Finding]]:
        return {t: found for t, found in findings.items() if t < before_later}

    assert with_later != without  # the later contacts do change the later steps
    assert up_to_later(without) == up_to_later(with_later) != {}


def test_an_aggregated_partner_record_counts_as_its_reporters_once_others_write_the_same() -> None:
    text = "cant post comment on live stream"
    record = contact(BURST_AT, "partner-7", text, count=5, source="partner:acme")
    customers = [contact(BURST_AT + 600 * (n + 1), who, POST_COMMENT[n]) for n, who in enumerate(["bob", "carol"])]
    _, findings = replay([*quiet_day(), record, *customers])
    assert {f.observed for f in all_findings(findings)} == {7}  # 5 via the partner + Bob + Carol


def test_a_partner_alone_is_one_writer_however_many_reporters_its_records_carry() -> None:
    # A batch summarised as an everyday complaint with a typo, or three batches of one partner: one text
    # source, written by the partner; its reporters are the rate detector's evidence, not a rare symptom's.
    text = "cant post comment on live stream"
    alone = contact(BURST_AT, "partner-7", text, count=12, source="partner:acme")
    assert replay([*quiet_day(), alone])[1] == {}
    batches = [contact(BURST_AT + 600 * n, f"partner-{n}", text, count=4, source="partner:acme") for n in range(3)]
    assert replay([*quiet_day(), *batches])[1] == {}
    with_bob = [alone, contact(BURST_AT + 600, "bob", POST_COMMENT[1])]
    assert replay([*quiet_day(), *with_bob])[1] == {}  # two writers
    two_partners = [*with_bob, contact(BURST_AT + 1200, "partner-9", text, count=3, source="partner:telco")]
    assert {f.observed for f in all_findings(replay([*quiet_day(), *two_partners])[1])} == {16}


def test_unrelated_texts_do_not_cluster() -> None:
    texts = [
        "cant post comment on live stream",
        "billing question about my invoice",
        "the app crashes on startup",
        "no sound on channel 5",
        "wifi keeps dropping every few minutes",
        "remote control buttons unresponsive",
    ]
    _, findings = replay([*quiet_day(), *burst(BURST_AT, texts, gap=300)])
    assert findings == {}
    sketcher, index = Sketcher(), SymptomIndex(0.6)
    symptoms = [index.assign(s) for s in map(sketcher.sketch, texts) if s is not None]
    assert len(set(symptoms)) == len(texts)


def test_a_cluster_with_nothing_in_common_gives_no_finding() -> None:
    dims = [{"device_brand": b, "service": s} for b, s in (("A", "x"), ("B", "y"), ("C", "z"))]
    pairs = enumerate(zip(POST_COMMENT, dims, strict=True))
    spread = [contact(BURST_AT + n * 600, f"c{n}", text, d) for n, (text, d) in pairs]
    _, findings = replay([*quiet_day(), *spread])
    assert findings == {}


def test_a_rare_fault_on_one_brand_is_not_hidden_by_the_same_words_elsewhere() -> None:
    other = {"device_brand": "Vexa", "service": "TvNow"}
    noise = [contact(BURST_AT + n * 300, f"v{n}", POST_COMMENT[0], other) for n in range(2)]
    _, findings = replay([*quiet_day(), *noise, *burst(BURST_AT, POST_COMMENT)])
    scopes = {f.scope for f in all_findings(findings)}
    assert scopes == {(("device_brand", "Sonique"), ("service", "StreamPlus"))}


def test_the_incident_stays_elevated_within_the_window_then_ends() -> None:
    detector, findings = replay([*quiet_day(), *burst(BURST_AT, POST_COMMENT)], until=BURST_AT + 2 * HOUR)
    scope = (("device_brand", "Sonique"), ("service", "StreamPlus"))
    assert len(findings) >= 2  # reported at every step while it qualifies
    assert not detector.is_elevated(scope)  # the first text left the window
    assert not detector.is_elevated((("device_brand", "Vexa"),))


def test_same_input_gives_same_output() -> None:
    contacts = [*quiet_day(), *burst(BURST_AT, POST_COMMENT)]
    assert replay(contacts)[1] == replay(contacts)[1]


def test_old_symptoms_are_forgotten() -> None:
    detector = SymptomDetector(rarity_horizon=DAY)
    texts = [f"unique complaint number {w}" for w in "abcdefgh"]
    detector, _ = replay(burst(T0 + 10, texts, gap=60), detector)
    assert len(detector._index) > 0
    detector.close_step(T0 + 3 * DAY)
    assert len(detector._index) == 0 and not detector._symptoms


def test_normalisation_forgives_case_punctuation_negation_and_fillers() -> None:
    assert normalise("Cannot post a comment on the live stream!!") == "cant post comment on live stream"
    assert normalise("My remote does NOT work") == normalise("my remote doesn't work")
    assert normalise("order 123456789 lost") == "order # lost"
    assert normalise("Error E1001") == "error e1001"


def test_detector_protocol_and_settings() -> None:
    detector: Detector = SymptomDetector(window=1800.0, min_customers=4)
    assert detector.kind == "symptom"
    assert isinstance(detector, SymptomDetector)
    assert (detector.window, detector.min_customers) == (1800.0, 4)


# Shortcuts that must give exactly what the plain way gives.


def typo_variants(word: str, rng: random.Random) -> list[str]:
    """The word with one of each kind of typo: a character dropped, added, replaced, two neighbours swapped."""
    i = rng.randrange(len(word))
    j = rng.randrange(len(word) - 1)
    letter = rng.choice("abcdeilmnorstu")
    return [
        word[:i] + word[i + 1 :],
        word[:i] + letter + word[i:],
        word[:i] + letter + word[i + 1 :],
        word[:j] + word[j + 1] + word[j] + word[j + 2 :],
    ]


def test_the_deletion_index_finds_every_word_one_typo_away_that_a_full_scan_finds() -> None:
    rng = random.Random(3)
    stems = ["".join(rng.choice("abcdeilmnorstu") for _ in range(rng.randint(2, 9))) for _ in range(300)]
    words = sorted({*stems, *(typo for stem in stems for typo in typo_variants(stem, rng)), "aab", "aba", "ab"})
    index = _TypoIndex()
    for word in words:
        index.add(word)
    removed = set(rng.sample(words, 200))
    for word in removed:
        index.remove(word)
    kept = [word for word in words if word not in removed]
    found = 0
    for query in [*stems, *(typo for stem in stems[:100] for typo in typo_variants(stem, rng))]:
        scanned = {other for other in kept if one_typo_apart(query, other)}
        assert {other for other in index.near(query) if one_typo_apart(query, other)} == scanned, query
        found += len(scanned)
    assert found > 500  # the queries do have words one typo away


def test_the_word_tally_files_exactly_the_words_of_two_reporters_or_more() -> None:
    tally = _WordTally()
    tally.add(1.0, ("remote", "remte"), 1)
    assert tally.typos.near("remote") == set()
    tally.add(2.0, ("remote", "box"), 2)
    tally.add(3.0, ("remtoe", "remte"), 1)
    assert tally.typos.near("remote") == {"remote", "remte"}
    tally.prune(2.0)  # the first entry leaves: "remte" has one reporter left, "remote" two
    assert tally.typos.near("remote") == {"remote"} and tally.counts == {"remote": 2, "box": 2, "remtoe": 1, "remte": 1}
    tally.prune(4.0)
    assert tally.typos.near("remote") == set() and tally.counts == {}


def test_misspellings_found_by_the_deletion_index_are_those_a_full_scan_finds() -> None:
    rng = random.Random(4)
    stems = ["".join(rng.choice("abcdeilmnorstu") for _ in range(rng.randint(3, 8))) for _ in range(300)]
    words = [*stems, *(typo for stem in stems for typo in typo_variants(stem, rng))]
    detector = SymptomDetector()
    for n in range(1500):  # most words have a reporter or two...
        detector._words.add(T0 + n, tuple(sorted(set(rng.sample(words, 2)))), rng.choice([1, 1, 1, 2, 5]))
    for n, stem in enumerate(stems[:40] * 12):  # ...a few are everyday ones
        detector._words.add(T0 + 2000 + n, (stem,), 2)
    queries = [typo for stem in stems for typo in typo_variants(stem, rng)]
    answers = {False: 0, True: 0}
    for span in (0.0, 2 * HOUR, DAY, 3 * DAY):  # one reporter is not rare at first, then it is
        detector._span, counts = span, detector._words.counts
        for n, word in enumerate(queries):
            plain = any(one_typo_apart(word, other) and not detector._rare(k, span) for other, k in counts.items())
            assert detector._misspelling(word, T0 + span * 10 + n * HOUR) == plain, (word, span)
            answers[plain] += 1
    assert min(answers.values()) > 300


def plain_count_equal(sigs: dict[int, np.ndarray], sig: np.ndarray) -> list[tuple[int, int]]:
    return [(slot, int((row == sig).sum())) for slot, row in sigs.items()]


def test_columns_count_like_a_gather_of_their_slots_in_the_order_they_joined() -> None:
    rng = np.random.default_rng(5)
    columns, plain = _Columns(), {}
    pool = rng.integers(0, 4, (600, 64), dtype=np.uint32)  # few values: many equal, many ties
    for step in range(3000):
        slot = int(rng.integers(0, 600))
        if slot in plain:
            columns.remove(slot)
            del plain[slot]
        else:
            columns.add(slot, pool[slot])
            plain[slot] = pool[slot]
        if step % 97 == 0:
            query = pool[int(rng.integers(0, 600))]
            slots, equal = columns.count_equal(query)
            live = [(int(s), int(n)) for s, n in zip(slots, equal, strict=True) if s >= 0]
            assert live == plain_count_equal(plain, query) and len(columns) == len(plain)
            assert all(n == -1 for s, n in zip(slots, equal, strict=True) if s < 0)
    assert len(slots) < 3 * max(64, len(plain))  # dead columns were squeezed out


def test_established_neighbours_are_the_neighbours_among_the_established_symptoms() -> None:
    rng = random.Random(11)
    phrases = [
        "cant post comment on live stream",
        "remote doesnt work after update",
        "no sound on channel five tonight",
        "screen goes purple when mirroring",
        "receipt shows another customers name",
        "app crashes when opening the guide",
    ]
    sketcher, index = Sketcher(), SymptomIndex(0.6)
    established: list[int] = []
    checked = 0
    for n in range(1500):
        words = rng.choice(phrases).split()
        words = [rng.choice(typo_variants(w, rng)) if rng.random() < 0.3 else w for w in words]
        sketch = sketcher.sketch(" ".join(words) + f" {rng.choice(['', 'since', 'again today', str(n % 7)])}")
        assert sketch is not None
        symptom = index.assign(sketch, 0.45)
        if rng.random() < 0.2:
            index.establish(symptom)
            established = list(dict.fromkeys([*established, symptom]))
        if rng.random() < 0.05:
            index.watch(symptom, rng.random() < 0.5)
        if rng.random() < 0.02 and established:
            gone = established.pop(rng.randrange(len(established)))
            index.forget(gone)
        if n % 25 == 0:
            plain = exhaustive_neighbours(index, sketch, 0.45, established)
            assert set(index.established_neighbours([sketch], 0.45)) == set(plain)
            checked += len(plain)
    assert checked > 50


def test_candidates_with_repeats_give_the_same_first_best_slot_as_without() -> None:
    sketcher, index = Sketcher(), SymptomIndex(0.6)
    rng = random.Random(2)
    base = "my remote doesnt work since the update"
    differing = ties = 0
    for n in range(400):
        words = [rng.choice(typo_variants(w, rng)) if rng.random() < 0.4 else w for w in base.split()]
        sketch = sketcher.sketch(" ".join(words))
        assert sketch is not None
        slots, equal = index._candidates(sketch)
        # The plain way: each slot once, in the order first found band by band, then the first best.
        once = list(dict.fromkeys(slot for key in sketch.keys for slot in index._buckets.get(key, ())))
        if len(once) < len(slots):
            differing += 1
            counts = [int((index._sigs[slot] == sketch.signature).sum()) for slot in once]
            assert int(slots[int(equal.argmax())]) == once[counts.index(max(counts))]
            ties += counts.count(max(counts)) > 1
        index.found(sketch) if n % 3 else index.assign(sketch)
    assert differing > 100 and ties > 20


def exhaustive_neighbours(index: SymptomIndex, sketch: Sketch, similarity: float, among: list[int]) -> set[int]:
    """The plain way: every exemplar of the symptoms ``among``, gathered from the index and compared."""
    need = int(np.ceil(similarity * 64))
    return {
        index._slot_owner[slot]
        for symptom in among
        for slot in index._exemplars.get(symptom, ())
        if int((index._sigs[slot] == sketch.signature).sum()) >= need
    }


def four_views_signature(normalised: str) -> np.ndarray:
    """The MinHash sketch as it was first computed: four aligned uint32 views, concatenated."""
    data = f" {normalised} \0".encode()
    windows = [np.frombuffer(data, "<u4", (len(data) - offset) // 4, offset) for offset in range(4)]
    shingles = np.concatenate(windows) & np.uint32(0xFFFFFF)
    return (shingles[:, np.newaxis] * _MULTIPLIERS).min(axis=0)


@pytest.mark.parametrize("extra", range(8))
def test_the_strided_signature_is_the_four_views_one(extra: int) -> None:
    for text in ("cant post comment", "écran noir après mise à jour", "画面が黒い", "error e1001 on box 7"):
        normalised = normalise(text + " x" * extra)[: 4 + extra * 5]
        assert signature(normalised).tolist() == four_views_signature(normalised).tolist()


def test_sketches_primed_in_a_batch_are_the_sketches_made_one_by_one() -> None:
    rng = random.Random(8)
    texts = [
        " ".join(rng.choice([w, *typo_variants(w, rng)]) for w in text.split() if len(w) > 1)
        for text in POST_COMMENT * 20
    ]
    texts += ["ok", "Hi!!", "écran noir après la mise à jour", "画面が黒い", "order 123456789 lost", texts[0]]
    texts += [text.upper() for text in texts[:10]]  # twins: the same normalised text, written otherwise
    one_by_one, primed = Sketcher(), Sketcher()
    primed.prime(texts[:50])
    primed.prime(texts)
    for text in texts:
        plain, batch = one_by_one.sketch(text), primed.sketch(text)
        assert (plain is None) == (batch is None), text
        if plain is not None and batch is not None:
            assert (batch.text, batch.normalised, batch.keys, batch.words) == (
                plain.text,
                plain.normalised,
                plain.keys,
                plain.words,
            )
            assert batch.signature.tolist() == plain.signature.tolist()
            assert batch.signature.dtype == plain.signature.dtype and batch.signature.shape == (64,)


def test_the_sketch_memo_keeps_what_recurs_within_two_generations() -> None:
    memo: _Recent[str, int] = _Recent(3)
    memo["remote"] = 1
    for n, text in enumerate(["a", "b", "c", "d", "e"]):  # one-offs fill the newer generation twice over
        memo[text] = n
        assert memo["remote"] == 1  # a recurring text moves to the newer generation as it is read
    assert "a" not in memo and "b" not in memo  # the one-offs of the dropped generation are gone
    assert [key for key in ["remote", "c", "d", "e"] if key in memo] == ["remote", "c", "d", "e"]
    assert memo.get("a") is None and memo.get("e") == 4
    for n in range(100):
        memo[f"text {n}"] = n
    assert sum(key in memo for key in [f"text {n}" for n in range(100)]) <= 6  # bounded: 2 x 3 entries


def test_a_forgotten_symptom_leaves_no_slot_and_no_empty_bucket_behind() -> None:
    sketcher, index = Sketcher(), SymptomIndex(0.6)
    texts = ["cant post comment on live stream", "cant post coment on live strem", "no sound on channel 5"]
    sketches = [sketch for sketch in map(sketcher.sketch, texts) if sketch is not None]
    symptoms = [index.assign(sketch) for sketch in sketches]
    for sketch in sketches:  # forget() finds a slot's buckets from its stored signature: they must be its keys
        slot = next(s for s in range(len(index._slot_owner)) if (index._sigs[s] == sketch.signature).all())
        assert band_keys(index._sigs[slot]) == list(sketch.keys)
    filed = {key: bucket for key, bucket in index._buckets.items()}
    index.forget(symptoms[0])
    gone = set(index._free)
    assert gone and all(bucket and not gone & set(bucket) for bucket in index._buckets.values())
    assert {key for key, bucket in filed.items() if set(bucket) - gone} == set(index._buckets)
    assert index.assign(sketches[2]) == symptoms[2]  # the others are still found


def test_a_long_text_normalises_from_its_opening_as_from_the_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the first 200 normalised characters count: what follows them never changes a text's form, however the
    opening is cut (a "not" or a long number just after the cut, a non-ASCII letter far after it)."""
    from correlate.detectors import similarity

    rnd = random.Random(4)
    words = ["the", "card", "does", "not", "work", "is", "cannot", "1234567", "bill", "can't", "paid", "it"]
    texts = [" ".join(rnd.choice(words) for _ in range(rnd.randint(60, 160))) for _ in range(400)]
    texts += [text + " ß\x00 café" for text in texts[:100]]
    opened = [normalise(text) for text in texts]
    monkeypatch.setattr(similarity, "_OPENING", 10**9)  # the whole text, always
    assert opened == [normalise(text) for text in texts]
    assert sum(len(text) > 400 and len(form) == 200 for text, form in zip(texts, opened, strict=True)) > 200
