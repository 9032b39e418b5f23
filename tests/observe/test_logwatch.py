"""LogTailer against real files: appends, partial lines, rotation, truncation, trouble."""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2s_agent.observe import logwatch
from s2s_agent.observe.logwatch import LogTailer


def append(path, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode()
    with open(path, "ab") as f:
        f.write(data)


@pytest.fixture
def log(tmp_path):
    p = tmp_path / "ipsec.log"
    p.write_text("old line 1\nold line 2\n")
    return p


def test_starts_at_end_and_returns_new_lines(log):
    t = LogTailer(log)
    assert t.poll() == []
    append(log, "Nov 26 22:47:17 fw charon[1]: 09[IKE] <con1|3> sending DPD request\nsecond\n")
    assert t.poll() == [
        "Nov 26 22:47:17 fw charon[1]: 09[IKE] <con1|3> sending DPD request",
        "second",
    ]
    assert t.poll() == []
    st_ = t.status()
    assert st_["state"] == "ok" and st_["error"] is None
    assert st_["inode"] == os.stat(log).st_ino
    assert st_["offset"] == os.path.getsize(log)
    assert st_["path"] == str(log)


def test_start_at_beginning_reads_existing_content(log):
    t = LogTailer(log, start_at_end=False)
    assert t.poll() == ["old line 1", "old line 2"]


def test_partial_line_is_held_until_its_newline(log):
    t = LogTailer(log)
    append(log, "complete\nhalf a li")
    assert t.poll() == ["complete"]
    assert t.status()["pending_bytes"] == len("half a li")
    assert t.poll() == []
    append(log, "ne\n")
    assert t.poll() == ["half a line"]


def test_start_in_the_middle_of_a_line_drops_its_tail(tmp_path):
    p = tmp_path / "x.log"
    p.write_text("full\nwriter is mid-li")
    t = LogTailer(p)
    append(p, "ne\nnext\n")
    assert t.poll() == ["next"]


def test_rename_rotation_finishes_old_file_then_reads_new_from_start(log):
    t = LogTailer(log)
    append(log, "a\n")
    assert t.poll() == ["a"]
    # between two polls: more lines in the old file, rotation, lines in the new file
    append(log, "b\nc\n")
    os.rename(log, str(log) + ".0")
    append(log, "d\ne\n")
    assert t.poll() == ["b", "c", "d", "e"]
    assert t.status()["inode"] == os.stat(log).st_ino
    assert t.status()["draining_rotated"] is True
    assert t.poll() == []
    assert t.status()["draining_rotated"] is False


def test_rotation_while_a_partial_line_is_pending(log):
    t = LogTailer(log)
    append(log, "x1\nhalf")
    assert t.poll() == ["x1"]
    append(log, "-done\n")  # the writer completes the line in the old file ...
    os.rename(log, str(log) + ".0")  # ... then newsyslog rotates
    append(log, "new1\n")
    assert t.poll() == ["half-done", "new1"]


def test_writer_still_on_the_rotated_file_until_sighup(log):
    t = LogTailer(log)
    os.rename(log, str(log) + ".0")
    append(log, "in new\n")
    assert t.poll() == ["in new"]
    append(str(log) + ".0", "late line in old file\n")  # syslogd has not reopened yet
    append(log, "new again\n")
    assert t.poll() == ["late line in old file", "new again"]
    assert t.poll() == []
    assert t.status()["draining_rotated"] is False


def test_rotated_file_ending_without_newline_is_flushed_as_a_line(log):
    t = LogTailer(log)
    append(log, "cut off")
    assert t.poll() == []
    os.rename(log, str(log) + ".0")
    append(log, "fresh\n")
    assert t.poll() == ["fresh"]
    assert t.poll() == ["cut off"]  # old file stopped growing: its last bytes are final


def test_copy_truncate_rereads_from_start(log):
    t = LogTailer(log)
    append(log, "before truncate, a long enough line\n")
    assert t.poll() == ["before truncate, a long enough line"]
    with open(log, "r+b") as f:
        f.truncate(0)
    append(log, "after\n")
    assert t.poll() == ["after"]
    assert t.status()["offset"] == len("after\n")


def test_missing_at_start_then_created_reads_from_start(tmp_path):
    p = tmp_path / "later.log"
    t = LogTailer(p)
    assert t.poll() == []
    s = t.status()
    assert s["state"] == "missing" and s["inode"] is None and s["offset"] is None
    p.write_text("first\nsecond\n")
    assert t.poll() == ["first", "second"]
    assert t.status()["state"] == "ok"


def test_deleted_file_returns_its_last_lines_then_missing(log):
    t = LogTailer(log)
    append(log, "last words\n")
    os.unlink(log)
    assert t.poll() == ["last words"]
    assert t.status()["state"] == "missing"
    assert t.poll() == []
    assert t.status()["state"] == "missing"
    log.write_text("reborn\n")
    assert t.poll() == ["reborn"]


def test_unreadable_file_is_an_error_state_and_recovers(log, monkeypatch):
    def denied(path):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(logwatch, "_open_fd", denied)
    t = LogTailer(log)
    assert t.poll() == []
    s = t.status()
    assert s["state"] == "error"
    assert "Permission denied" in s["error"] and str(log) in s["error"]
    monkeypatch.undo()
    assert t.poll() == ["old line 1", "old line 2"]  # appeared readable: it is new to us
    assert t.status()["state"] == "ok" and t.status()["error"] is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_real_permissions(log):
    os.chmod(log, 0)
    try:
        t = LogTailer(log)
        assert t.poll() == []
        assert t.status()["state"] == "error"
        assert "Permission denied" in t.status()["error"]
    finally:
        os.chmod(log, 0o644)


def test_directory_at_the_path_is_an_error(tmp_path):
    d = tmp_path / "ipsec.log"
    d.mkdir()
    t = LogTailer(d)
    assert t.poll() == []
    assert t.status()["state"] == "error"
    assert "not a regular file" in t.status()["error"]


def test_huge_append_is_read_in_bounded_steps(log):
    t = LogTailer(log, max_read=1000)
    lines = [f"line {i:05d} " + "x" * 80 for i in range(200)]
    append(log, "".join(line + "\n" for line in lines))
    got, polls = [], 0
    while True:
        before = t.status()["offset"]
        batch = t.poll()
        assert t.status()["offset"] - before <= 1000
        polls += 1
        if not batch and t.status()["offset"] == before:
            break
        got += batch
    assert got == lines
    assert polls > 15


def test_huge_append_then_rotation_keeps_order(log):
    t = LogTailer(log, max_read=500)
    old = [f"old {i:03d} " + "o" * 40 for i in range(50)]
    append(log, "".join(x + "\n" for x in old))
    os.rename(log, str(log) + ".0")
    append(log, "new 1\nnew 2\n")
    got = []
    for _ in range(20):
        got += t.poll()
    assert got == old + ["new 1", "new 2"]


def test_overlong_line_is_cut_and_returned_once(log):
    t = LogTailer(log, max_line=10)
    append(log, "A" * 50 + "\nshort\n")
    assert t.poll() == ["A" * 10, "short"]


def test_overlong_partial_line_is_bounded_across_polls(log):
    t = LogTailer(log, max_line=10)
    append(log, "B" * 25)
    assert t.poll() == ["B" * 10]
    assert t.status()["pending_bytes"] == 0
    append(log, "B" * 100)
    assert t.poll() == []
    append(log, "B\nafter\n")
    assert t.poll() == ["after"]


def test_bytes_are_decoded_leniently(log):
    t = LogTailer(log)
    append(log, b"nul\x00inside\nbad \xff\xfe utf8\ncrlf\r\n\xc3\xa9t\xc3\xa9\n")
    assert t.poll() == ["nul\x00inside", "bad \ufffd\ufffd utf8", "crlf", "\u00e9t\u00e9"]


def test_close_then_poll_reopens(log):
    t = LogTailer(log)
    t.close()
    assert t.poll() == ["old line 1", "old line 2"]


def test_invalid_limits_are_rejected(log):
    with pytest.raises(ValueError):
        LogTailer(log, max_line=0)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(
        st.text(
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
            max_size=40,
        ),
        max_size=20,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_any_write_chunking_yields_the_same_lines(lines, cuts):
    data = "".join(x + "\n" for x in lines).encode()
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f.log")
        open(p, "wb").close()
        t = LogTailer(p, max_line=10_000)
        got = []
        for a, b in zip(points, points[1:], strict=False):
            append(p, data[a:b])
            got += t.poll()
        got += t.poll()
    assert got == lines
