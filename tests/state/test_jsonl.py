"""JSON Lines: torn-line recovery, skipping damage, reading only the tail."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from claw.state import jsonl
from claw.state.jsonl import append_records, read_all, read_tail


def _recs(n: int, start: int = 0, pad: int = 0) -> list[dict]:
    return [{"n": i, "pad": "x" * pad} for i in range(start, start + n)]


def _numbers(records: list[dict]) -> list[int]:
    return [r["n"] for r in records]


def test_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append_records(path, [{"a": 1, "text": "ünïcode ✓"}, {"b": [1, 2]}])
    append_records(path, [{"c": None}])
    res = read_all(path)
    assert res.records == [{"a": 1, "text": "ünïcode ✓"}, {"b": [1, 2]}, {"c": None}]
    assert res.bad_lines == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().endswith(b"\n")
    assert path.read_bytes().count(b"\n") == 3


def test_empty_append_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append_records(path, [])
    assert not path.exists()


def test_records_with_newlines_stay_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    text = "line1\nline2\r\n\u2028end"
    append_records(path, [{"text": text}])
    assert path.read_bytes().count(b"\n") == 1
    assert read_all(path).records == [{"text": text}]


def test_torn_last_line_is_reported_and_next_append_is_intact(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append_records(path, _recs(5))
    with open(path, "ab") as f:  # what a crash mid-write leaves: no newline at the end
        f.write(b'{"n": 5, "pad": "xxxxx')

    res = read_all(path)
    assert _numbers(res.records) == [0, 1, 2, 3, 4]
    assert res.bad_lines == [6]

    append_records(path, [{"n": 6}])
    res = read_all(path)
    assert _numbers(res.records) == [0, 1, 2, 3, 4, 6]
    assert res.bad_lines == [6]  # the fragment stays one bad line
    lines = path.read_bytes().split(b"\n")
    assert lines[5] == b'{"n": 5, "pad": "xxxxx'
    assert json.loads(lines[6]) == {"n": 6}

    append_records(path, [{"n": 7}])
    assert _numbers(read_all(path).records) == [0, 1, 2, 3, 4, 6, 7]


def test_torn_line_that_happens_to_parse_is_not_glued_to_the_next(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"n":0}\n{"n":1}')  # the newline of the last record was lost
    append_records(path, [{"n": 2}])
    res = read_all(path)
    assert _numbers(res.records) == [0, 1, 2]
    assert res.bad_lines == []


def test_corrupt_lines_in_the_middle_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append_records(path, _recs(3))
    with open(path, "ab") as f:
        f.write(b"\x00\x00garbage\xff\xfe\n")  # damage, not even UTF-8
        f.write(b"[1, 2, 3]\n")  # JSON, but not a record
        f.write(b"\n   \n")  # blank lines are ignored, not errors
        f.write(b'"a string"\n')
    append_records(path, _recs(3, start=3))
    res = read_all(path)
    assert _numbers(res.records) == [0, 1, 2, 3, 4, 5]
    assert res.bad_lines == [4, 5, 8]
    assert list(jsonl.iter_records(path)) == res.records


def test_bad_lines_are_logged(tmp_path: Path, caplog) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"n":0}\nnot json\n{"n":1}\n')
    with caplog.at_level("WARNING", logger="claw.state.jsonl"):
        read_all(path)
    assert "skipped 1 unreadable line(s) (2)" in caplog.text


def test_read_tail_returns_only_whole_lines_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append_records(path, _recs(2000, pad=100))  # ~230 KB, several tail blocks
    size = path.stat().st_size
    assert size > 3 * 64 * 1024
    line_len = len(jsonl.dumps(_recs(1, start=1000, pad=100)[0]))

    for want in (1, 1000, 70_000, 150_000):
        res, whole = read_tail(path, want)
        assert not whole
        assert res.bad_lines == []  # the cut first line is dropped, not reported
        nums = _numbers(res.records)
        assert nums[-1] == 1999
        assert nums == list(range(nums[0], 2000))  # a contiguous run of whole records
        assert all(r["pad"] == "x" * 100 for r in res.records)
        # Roughly the last max(want, 64 KiB) bytes: at most one (cut) line less.
        covered = sum(len(jsonl.dumps(r)) for r in res.records)
        window = max(want, 64 * 1024)
        assert window - line_len <= covered <= window

    res, whole = read_tail(path, size * 2)
    assert whole
    assert _numbers(res.records) == list(range(2000))


def test_read_tail_of_small_file_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append_records(path, _recs(10))
    res, whole = read_tail(path, 1)
    assert whole
    assert _numbers(res.records) == list(range(10))


def test_read_tail_reports_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append_records(path, _recs(2000, pad=100))
    with open(path, "ab") as f:
        f.write(b'{"n": 2000, "pa')
    res, whole = read_tail(path, 1)
    assert not whole
    assert _numbers(res.records)[-1] == 1999
    assert res.bad_lines == [-1]  # line number unknown in a partial read

    small = tmp_path / "s.jsonl"
    append_records(small, _recs(3))
    with open(small, "ab") as f:
        f.write(b'{"n": 3')
    res, whole = read_tail(small, 1)
    assert whole
    assert res.bad_lines == [4]


def test_append_returns_sizes_before_and_after(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    assert jsonl.append_locked(path, b'{"a":1}\n') == (0, 8)
    assert jsonl.append_locked(path, b'{"a":2}\n') == (8, 16)
    path.write_bytes(b'{"a":1}\n{"a')  # torn: the next append adds the missing newline
    assert jsonl.append_locked(path, b'{"a":3}\n') == (11, 20)


def test_append_is_fsynced_unless_asked_not_to(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "t.jsonl"
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    append_records(path, [{"a": 1}])
    assert synced == [path.stat().st_ino]
    append_records(path, [{"a": 2}], fsync=False)
    assert synced == [path.stat().st_ino]
