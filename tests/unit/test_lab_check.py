"""check's bookkeeping without root: pairs from the state, pingall, second chances, verdicts."""

from kubenetctl.lab import check
from kubenetctl.state.journal import LabState


def state():
    st = LabState("t", "lab/t")
    st.pods = [
        {"name": "a", "node": "n1", "netns": "t-a", "local": True, "addresses": {"net": "10.0.0.2"}},
        {"name": "b", "node": "n2", "netns": "t-b", "local": False, "addresses": {"net": "10.0.0.3"}},
    ]
    st.expect = [
        {"from": "a", "to": "b", "netns": "t-a", "local": True, "address": "10.0.0.3", "network": "net", "reach": True},
        {"from": "a", "to": "1.1.1.1", "netns": "t-a", "local": True, "address": "1.1.1.1", "network": None, "reach": False},
        {"from": "b", "to": "a", "netns": "t-b", "local": False, "address": "10.0.0.2", "network": "net", "reach": True},
    ]
    return st


def test_pairs_and_pingall():
    rows = check.rows_for(state())
    assert [(r.src, r.dst, r.expected, r.local) for r in rows] == [
        ("a", "b", True, True), ("a", "1.1.1.1", False, True), ("b", "a", True, False)]
    everything = check.rows_for(state(), all_pairs=True)
    assert len(everything) == 3  # a->b and b->a already expected: no duplicates


def test_a_missed_reply_gets_one_second_chance(monkeypatch):
    calls = []

    def fake(probes, timeout):
        calls.append([p.address for p in probes])
        for p in probes:
            p.reached = p.address == "10.0.0.3" and len(calls) == 2  # answers only the second time
        return probes

    monkeypatch.setattr(check, "ping_all", fake)
    rows = check.run(check.rows_for(state()))
    assert calls == [["10.0.0.3", "1.1.1.1"], ["10.0.0.3"]]  # no retry for must-not-reach, none for remote
    assert [r.status for r in rows] == ["pass", "pass", "skipped"]
    assert check.summary(rows) == {"pass": 2, "fail": 0, "observed": 0, "skipped": 1}


def test_unexpected_reply_is_a_failure(monkeypatch):
    def fake(probes, timeout):
        for p in probes:
            p.reached = True
        return probes

    monkeypatch.setattr(check, "ping_all", fake)
    rows = check.run(check.rows_for(state()))
    assert [r.status for r in rows] == ["pass", "fail", "skipped"]
