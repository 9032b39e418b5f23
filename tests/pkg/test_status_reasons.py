"""The status page and the dashboard widget explain each health reason (README's "Health
and reasons" table, sa_unreadable included) and show a tunnel's error text."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from .conftest import FILES, ROOT, require_tool
from .harness import STATUS, render_page


def readme_reasons() -> set[str]:
    """The reason codes of README's "Health and reasons" table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Health and reasons", 1)[1].split("\n## ", 1)[0]
    rows = [ln.split("|")[1] for ln in table.splitlines() if ln.startswith("| `")]
    return {code for row in rows for code in re.findall(r"`(\w+)`", row)}


def test_every_readme_health_reason_has_a_text_on_the_status_page():
    php = require_tool("php")
    inc = FILES / "usr/local/www/widgets/include/s2s_agent.inc"
    code = (
        f"include {json.dumps(str(inc))}; echo json_encode(array_keys(s2s_agent_reason_texts()));"
    )
    r = subprocess.run([php, "-r", code], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    reasons = readme_reasons()
    assert "sa_unreadable" in reasons and "dpd_giveup" in reasons
    assert reasons <= set(json.loads(r.stdout.strip().splitlines()[-1]))


UNREADABLE = {
    **STATUS,
    "tunnels": [
        {
            **STATUS["tunnels"][0],
            "health": "UNKNOWN",
            "reasons": ["sa_unreadable", "made_up_reason"],
            "error": "part of strongSwan's output could not be read: line 7: <junk>",
        }
    ],
}


@pytest.mark.parametrize("page", ["status_s2s_agent.php", "widgets/widgets/s2s_agent.widget.php"])
def test_sa_unreadable_is_explained(tmp_path, page):
    r = render_page(tmp_path, page, f"#!/bin/sh\ncat <<'JSON'\n{json.dumps(UNREADABLE)}\nJSON\n")
    assert r.returncode == 0, r.stdout + r.stderr
    html = r.stdout
    meaning = (
        "part of strongSwan&#039;s output could not be read and it may be this tunnel&#039;s SA"
    )
    assert meaning in html, html[-1500:]
    assert "made_up_reason" in html  # an unknown reason shows as it is
    if page.startswith("status"):
        assert "<code>sa_unreadable</code>: " + meaning in html
        assert "line 7: &lt;junk&gt;" in html  # the tunnel's error: the lines skipped
    else:
        assert f'<span title="{meaning}' in html
