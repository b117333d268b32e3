"""EDGE_GATE__REQUIRE_FINGER_*: which passages must present a finger (issue 12)."""

from __future__ import annotations

import pytest

from edge.settings import Settings


def test_required_fingers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().gate.finger_required() == frozenset()
    monkeypatch.setenv("EDGE_GATE__REQUIRE_FINGER_VISITOR_EXIT", "true")
    monkeypatch.setenv("EDGE_GATE__REQUIRE_FINGER_MOVEMENT", "1")
    assert Settings().gate.finger_required() == {"visitor_exit", "movement"}


def test_an_unknown_gate_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_GATE__REQUIRE_FINGER_EVERYWHERE", "true")
    with pytest.raises(ValueError, match="require_finger_everywhere"):
        Settings()
