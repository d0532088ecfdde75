"""The simulation report as one self-contained HTML page.

Everything is inline: the style sheet and the charts (SVG). No script, no font, no
image and no link leaves the page, so it can be mailed, archived or opened offline.
"""
from __future__ import annotations

from html import escape

from app.core import codec

from .simulation import SimulationReport
from .simulation import RULE_KEYS, label as ruleset_label, shown_value

LEVEL_COLOURS = {"green": "#2e9d5b", "yellow": "#e0b400", "orange": "#ef7d22", "red": "#d0312d"}
OTHER_COLOURS = ("#6b7a8f", "#8e6bbf", "#3d8eb9", "#b5651d")
BEFORE = "#9aa5b1"
AFTER = "#2f6fb3"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
 color:#1f2933;padding:0 1rem;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9dee3;
 padding-bottom:.2rem}h3{font-size:1rem;margin:1rem 0 .3rem}
.sub{color:#52606d;margin-top:0}.cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #d9dee3;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}.card span{color:#52606d;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #d9dee3;padding:.25rem .5rem;
 text-align:left;vertical-align:top}th{background:#f5f7fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#b42318}.down{color:#1e7b34}.charts{display:flex;flex-wrap:wrap;gap:2rem;align-items:flex-start}
.charts figure{margin:0}.charts figcaption{font-weight:600;margin-bottom:.3rem}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.side{border:1px solid #d9dee3;border-radius:6px;
 padding:.5rem .8rem}.side h4{margin:.2rem 0}.tag{display:inline-block;border-radius:3px;padding:0 .35rem;
 color:#fff;font-size:.85rem}.muted{color:#52606d}code{font-size:.85rem}ul{margin:.2rem 0;padding-left:1.2rem}
.candidate{border-left:4px solid #8e6bbf;padding-left:.6rem}.baseline{border-left:4px solid #9aa5b1;
 padding-left:.6rem}.badge{display:inline-block;border-radius:3px;padding:0 .4rem;font-size:.8rem;color:#fff;
 background:#8e6bbf}.note{border:1px solid #e0b400;background:#fffbea;padding:.6rem 1rem;border-radius:6px}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:middle}
"""


def _colour(level: str, index: int) -> str:
    return LEVEL_COLOURS.get(level, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def _n(value: int) -> str:
    return f"{value:,}"


def _delta(value: int) -> str:
    if value == 0:
        return "0"
    return f'<span class="{"up" if value > 0 else "down"}">{value:+,}</span>'


def _tag(level: str, levels: list) -> str:
    index = levels.index(level) if level in levels else 0
    return f'<span class="tag" style="background:{_colour(level, index)}">{escape(level)}</span>'


# -- charts -------------------------------------------------------------------------------

def _ref(ref) -> str:
    return f"line {ref}" if isinstance(ref, int) else str(ref)


def nice_top(value: int) -> tuple[int, int]:
    """An axis top at or above ``value`` and its tick step (1, 2 or 5 times a power of
    ten), with at most five steps."""
    value = max(1, value)
    power = 1
    while True:
        for m in (1, 2, 5):
            step = power * m
            steps = -(-value // step)
            if steps <= 5:
                return steps * step, step
        power *= 10


def grouped_bars(title: str, counts: dict, names: list, width: int = 480, height: int = 260) -> str:
    """Vertical bars, before and after side by side for each name."""
    pad_l, pad_b, pad_t = 50, 40, 20
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    top, tick = nice_top(max([max(counts[n]["before"], counts[n]["after"]) for n in names] + [1]))
    slot = plot_w / max(1, len(names))
    bar = min(40, slot * 0.35)
    out = [f'<svg width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}" font-size="11" font-family="sans-serif">']
    for i in range(top // tick + 1):
        y = pad_t + plot_h - plot_h * tick * i / top
        out.append(f'<line x1="{pad_l}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        out.append(f'<text x="{pad_l - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#52606d">'
                   f'{_n(tick * i)}</text>')
    for i, name in enumerate(names):
        x0 = pad_l + slot * i + slot / 2
        for j, (key, colour) in enumerate((("before", BEFORE), ("after", AFTER))):
            value = counts[name][key]
            h = plot_h * value / top
            x = x0 - bar + j * bar
            y = pad_t + plot_h - h
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" fill="{colour}">'
                       f'<title>{escape(name)} {key}: {_n(value)}</title></rect>')
            out.append(f'<text x="{x + (bar - 2) / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" fill="#1f2933">'
                       f'{_n(value)}</text>')
        out.append(f'<text x="{x0:.1f}" y="{pad_t + plot_h + 16}" text-anchor="middle">{escape(name)}</text>')
    out.append(f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{width - 10}" y2="{pad_t + plot_h}" stroke="#52606d"/>')
    out.append("</svg>")
    return "".join(out)


def horizontal_bars(title: str, counts: dict, names: list, width: int = 560) -> str:
    """Horizontal bars, before and after for each name; suits long names."""
    row, label_w, pad_t = 34, 190, 10
    height = pad_t + row * len(names) + 10
    plot_w = width - label_w - 70
    top = max([max(counts[n]["before"], counts[n]["after"]) for n in names] + [1])
    out = [f'<svg width="{width}" height="{height}" role="img" '
           f'aria-label="{escape(title)}" font-size="11" font-family="sans-serif">']
    for i, name in enumerate(names):
        y = pad_t + row * i
        out.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(name)}</text>')
        for j, (key, colour) in enumerate((("before", BEFORE), ("after", AFTER))):
            value = counts[name][key]
            w = plot_w * value / top
            yy = y + 3 + j * 13
            out.append(f'<rect x="{label_w}" y="{yy}" width="{w:.1f}" height="12" fill="{colour}">'
                       f'<title>{escape(name)} {key}: {_n(value)}</title></rect>')
            out.append(f'<text x="{label_w + w + 4:.1f}" y="{yy + 10}" fill="#1f2933">{_n(value)}</text>')
    out.append("</svg>")
    return "".join(out)


def move_matrix(levels: list, matrix: list, cell: int = 64) -> str:
    """Customers by level before (rows) and after (columns); the diagonal did not move."""
    left, top_pad = 90, 46
    size = len(levels)
    width, height = left + cell * size + 10, top_pad + cell * size + 10
    peak = max([v for i, r in enumerate(matrix) for j, v in enumerate(r) if i != j] + [1])
    out = [f'<svg width="{width}" height="{height}" role="img" '
           f'aria-label="Warning-level moves" font-size="11" font-family="sans-serif">',
           f'<text x="{left + cell * size / 2}" y="12" text-anchor="middle" fill="#52606d">after</text>',
           f'<text x="12" y="{top_pad + cell * size / 2}" fill="#52606d" '
           f'transform="rotate(-90 12 {top_pad + cell * size / 2})" text-anchor="middle">before</text>']
    for j, level in enumerate(levels):
        out.append(f'<text x="{left + cell * j + cell / 2}" y="{top_pad - 8}" text-anchor="middle">'
                   f'{escape(level)}</text>')
    for i, level in enumerate(levels):
        y = top_pad + cell * i
        out.append(f'<text x="{left - 8}" y="{y + cell / 2 + 4}" text-anchor="end">{escape(level)}</text>')
        for j in range(size):
            value = matrix[i][j]
            x = left + cell * j
            if i == j:
                fill, ink = "#f0f2f5", "#52606d"
            elif value == 0:
                fill, ink = "#ffffff", "#9aa5b1"
            else:
                strength = 0.15 + 0.85 * (value / peak) ** 0.5
                fill = f"rgba({'208,49,45' if j > i else '46,157,91'},{strength:.2f})"
                ink = "#ffffff" if strength > 0.55 else "#1f2933"
            out.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}" '
                       f'stroke="#d9dee3"><title>{escape(level)} to {escape(levels[j])}: {_n(value)}</title></rect>')
            out.append(f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" text-anchor="middle" fill="{ink}">'
                       f'{_n(value)}</text>')
    out.append("</svg>")
    return "".join(out)


# -- the page ------------------------------------------------------------------------------

def _explanation(side: dict, levels: list, heading: str) -> str:
    parts = [f'<div class="side"><h4>{escape(heading)}: {_tag(side["level"], levels)} '
             f'<span class="muted">review {escape(side["review_frequency"])}</span></h4><ul>']
    for action in side["actions"]:
        params = ", ".join(f"{k} {v}" for k, v in action["params"].items())
        title = action.get("title") or action["action"]
        shown = escape(title) + (f" ({escape(params)})" if params else "") + f' <code>{escape(action["action"])}</code>'
        why = f'<br><span class="muted">{escape(action["reason"])}</span>' if action.get("reason") else ""
        parts.append(f'<li><b>{shown}</b> <span class="muted">by {escape(", ".join(action["rules"]))}</span>{why}</li>')
    parts.append("</ul>")
    for item in side.get("overridden", []):
        parts.append(f'<div class="muted">{escape(item["action"])} dropped: {escape(item["why"])}</div>')
    for finding in side.get("data_quality", []):
        parts.append(f'<div class="muted">Data quality: {escape(finding["field"])} was '
                     f'{escape(str(finding["value"]))}, expected {escape(finding["expectation"])}; read as missing</div>')
    if side.get("trail"):
        parts.append("<h4>Rules fired</h4><ul>")
        for firing in side["trail"]:
            values = ", ".join(f"{k} = {codec.dumps(v)}" for k, v in firing["values"].items())
            clause = f' [{escape(firing["clause"])}]' if firing.get("clause") else ""
            parts.append(f'<li><code>{escape(firing["rule"])}</code> {escape(firing["title"])}{clause}'
                         + (f'<br><span class="muted">{escape(values)}</span>' if values else "") + "</li>")
        parts.append("</ul>")
    parts.append("</div>")
    return "".join(parts)


def _yaml_value(value) -> str:
    if value is None:
        return '<span class="muted">none</span>'
    return f"<code>{escape(shown_value(value))}</code>"


def _rule_changes(details: list) -> str:
    """Each edited, added or removed rule: its condition, signals, actions (with their
    parameters), level, review and priority before and after."""
    out = ["<table><tr><th>rule</th><th>change</th><th>part</th><th>before</th><th>after</th></tr>"]
    for detail in details:
        keys = [k for k in RULE_KEYS if detail["before"].get(k) != detail["after"].get(k)]
        for n, key in enumerate(keys):
            head = (f'<td rowspan="{len(keys)}"><code>{escape(detail["rule"])}</code></td>'
                    f'<td rowspan="{len(keys)}">{escape(detail["change"])}</td>') if n == 0 else ""
            out.append(f"<tr>{head}<td>{escape(key)}</td><td>{_yaml_value(detail['before'].get(key))}</td>"
                       f"<td>{_yaml_value(detail['after'].get(key))}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _counts_table(counts: dict, names: list, heading: str, titles: dict | None = None) -> str:
    def name(n: str) -> str:
        title = (titles or {}).get(n)
        return f"{escape(title)} <code>{escape(n)}</code>" if title and title != n else escape(n)

    rows = "".join(f"<tr><td>{name(n)}</td><td class=n>{_n(counts[n]['before'])}</td>"
                   f"<td class=n>{_n(counts[n]['after'])}</td><td class=n>{_delta(counts[n]['delta'])}</td></tr>"
                   for n in names)
    return (f"<table><tr><th>{escape(heading)}</th><th>before</th><th>after</th><th>change</th></tr>"
            f"{rows}</table>")


def render_html(report: SimulationReport, *, changed_rows: int = 500) -> str:
    """The report as a self-contained HTML page."""
    r = report
    b, c = r.baseline, r.candidate
    levels = r.levels
    title = f"Impact of {c['id']}@{c['version']} against {b['id']}@{b['version']}"
    badge = f' <span class="badge">{escape(c["origin"])}</span>' if c.get("origin") else ""
    share = f"{r.changed_count / r.snapshots:.1%}" if r.snapshots else "-"
    actions = sorted(r.action_counts,
                     key=lambda a: (-max(r.action_counts[a]["before"], r.action_counts[a]["after"]), a))
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
           f"<h1>{escape(title)}</h1>",
           f'<p class="sub candidate">Candidate{badge}: <b>{escape(ruleset_label(c))}</b> '
           f'(<code>{escape(c["hash"][:19])}</code>)</p>',
           f'<p class="sub baseline">Compared with: <b>{escape(ruleset_label(b))}</b> '
           f'(<code>{escape(b["hash"][:19])}</code>)</p>',
           f'<p class="sub">On snapshots from {escape(r.source)}.</p>',
           *([f'<p class="note">{escape(r.note)}</p>'] if r.note else []),
           '<div class="cards">',
           f'<div class="card"><b>{_n(r.snapshots)}</b><span>snapshots evaluated</span></div>',
           f'<div class="card"><b>{_n(r.changed_count)}</b><span>outcomes changed ({share})</span></div>',
           f'<div class="card"><b>{_n(r.fired_differently)}</b><span>other rules, same outcome</span></div>',
           f'<div class="card"><b>{_n(len(r.errors))}</b><span>snapshots not evaluated</span></div>',
           "</div>"]

    edits = r.rule_edits
    out.append("<h2>What the candidate changes</h2><ul>")
    for key, label in (("modified", "Rules edited"), ("added", "Rules added"), ("removed", "Rules removed"),
                       ("other", "Other parts of the ruleset changed")):
        if edits.get(key):
            out.append(f"<li>{label}: " + ", ".join(f"<code>{escape(x)}</code>" for x in edits[key]) + "</li>")
    if not any(edits.get(k) for k in ("modified", "added", "removed", "other")):
        out.append("<li>Nothing but the version.</li>")
    out.append("</ul>")
    if edits.get("details"):
        out.append(_rule_changes(edits["details"]))

    out.append('<h2>Before and after</h2><p class="legend"><span style="background:%s"></span>before'
               '<span style="background:%s"></span>after</p><div class="charts">' % (BEFORE, AFTER))
    out.append("<figure><figcaption>Warning levels</figcaption>"
               + grouped_bars("Warning levels before and after", r.level_counts, levels) + "</figure>")
    out.append("<figure><figcaption>Warning-level moves (customers)</figcaption>"
               + move_matrix(levels, r.level_moves) + "</figure>")
    if actions:
        out.append("<figure><figcaption>Actions (customers given each)</figcaption>"
                   + horizontal_bars("Actions before and after", r.action_counts, actions) + "</figure>")
    out.append("</div><div class=charts>")
    out.append(_counts_table(r.level_counts, levels, "level"))
    out.append(_counts_table(r.action_counts, actions, "action", r.action_titles))
    out.append(_counts_table(r.review_counts, sorted(r.review_counts), "review"))
    out.append("</div>")
    if r.param_changes:
        out.append("<h3>Action parameters that change</h3><table><tr><th>action</th><th>parameter</th>"
                   "<th>before</th><th>after</th><th>customers</th></tr>")
        for change in r.param_changes:
            title = r.action_titles.get(change["action"], change["action"])
            out.append(f"<tr><td>{escape(title)} <code>{escape(change['action'])}</code></td>"
                       f"<td>{escape(change['param'])}</td><td>{_yaml_value(change['before'])}</td>"
                       f"<td>{_yaml_value(change['after'])}</td><td class=n>{_n(change['customers'])}</td></tr>")
        out.append("</table>")
    if r.data_quality_counts:
        out.append("<h3>Data quality</h3><p class=muted>Snapshots with a value that failed its plausibility "
                   "check, read as missing by the rules.</p>")
        out.append(_counts_table(r.data_quality_counts, sorted(r.data_quality_counts), "field"))

    out.append("<h2>Rules behind the changes</h2>")
    if r.rules:
        out.append("<table><tr><th>rule</th><th>edited</th><th>customers</th><th>newly fired</th>"
                   "<th>no longer fired</th><th>fired in both, does something else</th></tr>")
        for rule in r.rules:
            out.append(f"<tr><td><code>{escape(rule['rule'])}</code></td><td>{'yes' if rule['edited'] else ''}</td>"
                       f"<td class=n>{_n(rule['changed_customers'])}</td><td class=n>{_n(rule['newly_fired'])}</td>"
                       f"<td class=n>{_n(rule['no_longer_fired'])}</td>"
                       f"<td class=n>{_n(rule['edited_and_fired'])}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>No outcome changed.</p>")

    if r.top:
        out.append(f"<h2>Most changed customers (top {len(r.top)})</h2>")
        for entry in r.top:
            out.append(f"<h3>{escape(str(entry['customer_id']))} <span class=muted>({escape(_ref(entry['ref']))}; "
                       f"rules {escape(', '.join(entry['rules']))})</span></h3><div class=pair>"
                       + _explanation(entry["before"], levels, f"Before ({ruleset_label(b)})")
                       + _explanation(entry["after"], levels, f"After ({ruleset_label(c)})") + "</div>")

    if r.changed:
        shown = r.changed[:changed_rows]
        out.append(f"<h2>Customers whose outcome changes ({_n(r.changed_count)})</h2>")
        if len(shown) < r.changed_count:
            out.append(f"<p class=muted>The first {_n(len(shown))} in input order; the JSON report lists all.</p>")
        out.append("<table><tr><th>source</th><th>customer</th><th>level</th><th>actions before</th>"
                   "<th>actions after</th><th>rules</th></tr>")
        for ch in shown:
            level = _tag(ch.before["level"], levels)
            if ch.after["level"] != ch.before["level"]:
                level += " &rarr; " + _tag(ch.after["level"], levels)
            out.append(f"<tr><td>{escape(_ref(ch.ref))}</td><td>{escape(str(ch.customer_id))}</td><td>{level}</td>"
                       f"<td>{escape(', '.join(ch.before['actions']))}</td>"
                       f"<td>{escape(', '.join(ch.after['actions']))}</td>"
                       f"<td>{escape(', '.join(ch.rules))}</td></tr>")
        out.append("</table>")

    if r.errors:
        out.append(f"<h2>Snapshots not evaluated ({_n(len(r.errors))})</h2><table><tr><th>source</th>"
                   "<th>ruleset</th><th>reason</th><th>problem</th></tr>")
        for err in r.errors[:200]:
            problem = "; ".join(f"{d['path']}: {d['message']}" for d in err.get("details") or []) or err["message"]
            out.append(f"<tr><td>{escape(_ref(err['ref']))}</td><td>{escape(err['side'])}</td>"
                       f"<td>{escape(err['reason'])}</td><td>{escape(problem)}</td></tr>")
        out.append("</table>")
    out.append(f'<p class="muted">Computed in {r.seconds:,.1f} s.</p></body></html>')
    return "\n".join(out)
