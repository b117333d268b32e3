"""NationalMemory: a national answer that did not come at the commit does not erase the people the
session's duplicate check was shown."""

from __future__ import annotations

from enrollment.duplicates import NOT_CONFIGURED, NationalAnswer, NationalCandidate, NationalMemory

HELD = NationalCandidate("id-a", "inmate", "active", "UPT-A", "Lapas A", "Budi", 0.71, 0.6)
SEARCHED = NationalAnswer("searched", (HELD,))
TIMED_OUT = NationalAnswer("unavailable", reason="no answer within 5.0 s (ReadTimeout)")


def test_an_unanswered_search_carries_the_sessions_earlier_candidates_and_says_so() -> None:
    memory = NationalMemory()
    assert memory.settle("s1", SEARCHED) == SEARCHED
    settled = memory.settle("s1", TIMED_OUT)
    assert settled.status == "unavailable" and settled.candidates == (HELD,)
    assert settled.reason is not None and settled.reason.startswith("no answer within 5.0 s")
    assert "1 national candidate(s) found earlier for this session stand" in settled.reason
    assert memory.settle("s2", TIMED_OUT) == TIMED_OUT  # another session saw no one


def test_a_fresh_answer_replaces_the_earlier_one_and_a_closed_session_is_forgotten() -> None:
    memory = NationalMemory()
    memory.settle("s1", SEARCHED)
    assert memory.settle("s1", NationalAnswer("searched")) == NationalAnswer("searched")
    assert memory.settle("s1", TIMED_OUT) == TIMED_OUT  # the latest answer named no one
    memory.settle("s1", SEARCHED)
    memory.forget("s1")
    assert memory.settle("s1", TIMED_OUT) == TIMED_OUT
    assert memory.settle("s1", NOT_CONFIGURED) == NOT_CONFIGURED


def test_it_holds_at_most_its_size_dropping_the_oldest_session() -> None:
    memory = NationalMemory(size=2)
    for session in ("s1", "s2", "s3"):
        memory.settle(session, SEARCHED)
    assert memory.settle("s1", TIMED_OUT) == TIMED_OUT
    assert memory.settle("s3", TIMED_OUT).candidates == (HELD,)
