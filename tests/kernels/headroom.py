"""Verifier headroom: how many instructions the verifier processed per BPF program, from the JSON
that `tracegapd --verify-only --verify-json PATH` writes:

    {"kernel": "...", "variants": [{"name": ..., "loaded": bool, "error": str,
                                    "programs": [{"name": str, "insns": int, "verify_us": int}]}]}

The kernels tier fails when any program of a variant that loaded needed more than LIMIT processed
instructions: 20% of the verifier's 1M budget, so that a kernel whose verifier explores more
states than the ones tested still loads the programs.
"""

BUDGET = 1_000_000
LIMIT = BUDGET // 5

HEADER = ("program", "variant", "kernel", "processed insns", "verification ms", "% of 1M")


def rows(verify, kernel=None):
    """[(program, variant, kernel, insns, ms, percent)] of every program of every loaded variant."""
    kernel = kernel or verify.get("kernel", "?")
    out = []
    for v in verify.get("variants", []):
        if not v.get("loaded"):
            continue
        for p in v.get("programs", []):
            insns = int(p.get("insns", 0))
            out.append((p.get("name", "?"), v.get("name", "?"), kernel, insns,
                        int(p.get("verify_us", 0)) / 1000.0, 100.0 * insns / BUDGET))
    return out


def not_loaded(verify):
    """[(variant, error)] of the variants that did not load."""
    return [(v.get("name", "?"), v.get("error", "")) for v in verify.get("variants", [])
            if not v.get("loaded")]


def over_limit(rs):
    return [r for r in rs if r[3] > LIMIT]


def _cells(r):
    return [r[0], r[1], r[2], str(r[3]), f"{r[4]:.1f}", f"{r[5]:.1f}"]


def text_table(rs):
    lines = [list(HEADER)] + [_cells(r) for r in rs]
    widths = [max(len(l[i]) for l in lines) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.rjust(w) if i >= 3 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(l, widths))).rstrip() for l in lines)


def markdown(rs, title, notes=()):
    out = [f"# {title}", "",
           f"Processed instructions per BPF program (`tracegapd --verify-only`); the kernels tier "
           f"fails above {LIMIT} (20% of the verifier's {BUDGET} budget).", ""]
    out += [f"- {n}" for n in notes]
    if notes:
        out.append("")
    if rs:
        out.append("| " + " | ".join(HEADER) + " |")
        out.append("|" + "|".join(["---"] * 3 + ["---:"] * 3) + "|")
        out += ["| " + " | ".join(_cells(r)) + " |" for r in rs]
    else:
        out.append("(no program loaded)")
    return "\n".join(out) + "\n"
