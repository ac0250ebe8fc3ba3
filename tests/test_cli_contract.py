"""The CLI's exit-code contract: 0 ok, 2 invalid input / usage, no traceback."""

from __future__ import annotations


def test_usage_error_exits_2(cli):
    code, out, err = cli(["suv"])
    assert code == 2
    assert "Traceback" not in err + out


def test_unknown_verb_exits_2(cli):
    code, _, err = cli(["no-such-verb"])
    assert code == 2 and "Traceback" not in err


def test_version(cli):
    code, out, _ = cli(["--version"])
    assert code == 0 and "theranostix" in out
