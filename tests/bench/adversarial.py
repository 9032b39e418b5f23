"""1 MB adversarial lines for every parser: each must be parsed in linear time.

Part of ``make bench`` (docs/benchmarks.md, target: each under 100 ms). The first three
are the inputs that hung ``parse`` for more than 120 s with the old regexes (issue 11
item 10); the others probe every other regex and split of the parsers the same way.
"""

from __future__ import annotations

import contextlib
import time

from s2s_agent.core.errors import ParseError
from s2s_agent.observe.parsers import classify_line, parse_list_sas, parse_statusall

MB = 1_000_000
HDR = "Security Associations (1 up, 0 connecting):\n"
IKE = "  a[1]: ESTABLISHED 1 second ago, 1.1.1.1[x]...2.2.2.2[y]\n"
LS_IKE = "a: #1, ESTABLISHED, IKEv2, 1_i* 2_r\n"
CHILD = "  c{1}:  INSTALLED, TUNNEL, reqid 1\n"


def cases(size: int) -> dict:
    """Every adversarial input with its long line of about ``size`` characters."""

    def _fit(unit: str, prefix: str = "", suffix: str = "") -> str:
        return prefix + unit * ((size - len(prefix) - len(suffix)) // len(unit)) + suffix

    return {
        "statusall": {
            "issue: child line a<N spaces>b===c": HDR
            + IKE
            + CHILD
            + "  c{1}:  a"
            + " " * size
            + "b===c\n",
            "IKE line of repeated ]...[": HDR
            + _fit("]...[", "  a[1]: ESTABLISHED 1 second ago, x[")
            + "\n",
            "IKE line of repeated [": HDR + _fit("[", "  a[1]: ESTABLISHED, 1.1.1.1") + "...\n",
            "counter line of repeated 'N bytes_i ('": HDR
            + IKE
            + _fit("1 bytes_i (", "  c{1}:  INSTALLED, TUNNEL, reqid 1\n  c{1}:  ")
            + "\n",
            "child line of repeated ', '": HDR + IKE + _fit(", ", "  c{1}:  INSTALLED") + "\n",
            "selectors of repeated '=== '": HDR
            + IKE
            + "  c{1}:  INSTALLED, TUNNEL, reqid 1\n"
            + _fit("=== ", "  c{1}:   ")
            + "\n",
            "name of N characters": HDR
            + _fit("a", "  ", "[1]: ESTABLISHED 1 second ago, a[b]...c[d]")
            + "\n",
            "header with N digits": _fit("1", "Security Associations (", " up, 0 connecting):")
            + "\n",
            "N bytes without newline": HDR + "x" * size,
        },
        "swanctl": {
            "issue: remote ' + repeated ' @ a[": LS_IKE
            + "  remote '"
            + "' @ a[" * (size // 6)
            + "\n",
            "IKE header of repeated '1, '": _fit("1, ", "a: #") + "\n",
            "child header of repeated 'cpu 1, '": LS_IKE
            + _fit("cpu 1, ", "  c: #1, reqid 1, ")
            + "\n",
            "counters of repeated ', '": LS_IKE
            + "  c: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES\n"
            + _fit(", ", "    in  ")
            + "\n",
            "selectors of N characters": LS_IKE
            + "  c: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES\n"
            + _fit("1.2.3.4/32 ", "    local  ")
            + "\n",
            "address line of repeated quotes": LS_IKE + _fit("'", "  local  '") + "\n",
            "N spaces of indentation": LS_IKE + " " * size + "x\n",
        },
        "log": {
            "repeated NN[IKE] markers": _fit("1[IKE] "),
            "repeated '<'": _fit("<", "09[IKE] "),
            "repeated BSD stamps": _fit("Nov 26 22:47:17 "),
            "MAC mismatch without its end": _fit("x", "09[IKE] tried 1 shared key for "),
            "authentication of repeated quotes": _fit("'", "09[IKE] authentication of '"),
            "traffic selectors without 'unacceptable'": _fit("x ", "09[IKE] traffic selectors "),
            "endpoint changed from 1e6 characters": _fit(
                "a", "09[IKE] local endpoint changed from "
            ),
            "IKE_SA name of repeated a[": _fit("a[", "09[IKE] IKE_SA "),
            "journal tag, then repeated a[": _fit(
                "a[", "Nov 26 22:47:17 h charon-systemd[1]: IKE_SA "
            ),
            "tab-separated fields": _fit("\t", "2026-11-26T22:47:17"),
        },
    }


PARSE = {"statusall": parse_statusall, "swanctl": parse_list_sas, "log": classify_line}


SIZES = {"1 MB": MB, "60 KB": 60_000}
"""1 MB lines are skipped unread (``MAX_LINE`` = 64 KiB); 60 KB ones are read in full, so
they are what shows that the regexes and splits themselves are linear."""


def bench_adversarial() -> dict:
    """Milliseconds per input (best of 3); every input must come back (ParseError is fine)."""
    out = {}
    for label, size in SIZES.items():
        for kind, group in cases(size).items():
            for name, text in group.items():
                best = None
                for _ in range(3):
                    t0 = time.perf_counter()
                    with contextlib.suppress(ParseError):
                        PARSE[kind](text)
                    dt = time.perf_counter() - t0
                    best = dt if best is None else min(best, dt)
                out[f"{label} {kind}: {name}"] = round(best * 1000, 2)
    return out


if __name__ == "__main__":
    for k, v in bench_adversarial().items():
        print(f"{v:10.2f} ms  {k}")
