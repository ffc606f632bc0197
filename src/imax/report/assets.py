"""Inline CSS and JS shared by the report and the record browser, plus the run/box colour table.

Everything here is pasted into the pages verbatim: the pages must open from a file on a machine with
no network, so nothing may be fetched (no web fonts, no CDN scripts).
"""

from __future__ import annotations

from typing import Final

RUN_ORDER: Final[tuple[str, ...]] = ("imax", "dmax", "pseudo_imax", "dmax_half")
"""Runs in the order every table and plot shows them (extra runs in the JSON follow, sorted)."""

RUN_LABELS: Final[dict[str, str]] = {
    "imax": "IMAX", "dmax": "DMAX", "pseudo_imax": "pseudo-IMAX", "dmax_half": "DMAX ½ (control)"
}

RUN_COLOURS: Final[dict[str, str]] = {
    "imax": "#2563eb", "dmax": "#ea580c", "pseudo_imax": "#9333ea", "dmax_half": "#64748b"
}
"""One colour per run, used by plots, box overlays and legend swatches alike."""

EXTRA_COLOURS: Final[tuple[str, ...]] = ("#0d9488", "#be123c", "#4d7c0f", "#92400e")

TRUTH_COLOUR: Final[str] = "#16a34a"
"""Ground-truth boxes (rec answers) are green everywhere."""

QUERY_COLOUR: Final[str] = "#06b6d4"
"""Boxes that are part of the question (reg queries) are cyan, so they never look like answers."""


def run_label(run: str) -> str:
    return RUN_LABELS.get(run, run)


def run_colour(run: str, index: int = 0) -> str:
    return RUN_COLOURS.get(run, EXTRA_COLOURS[index % len(EXTRA_COLOURS)])


CSS: Final[str] = """
:root { --fg:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --card:#ffffff; --accent:#2563eb;
        --good:#dcfce7; --bad:#fee2e2; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color:var(--fg); background:var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 60px; }
header.top { background:#0f172a; color:#f8fafc; padding:18px 24px; }
header.top .inner { max-width:1180px; margin:0 auto; }
header.top h1 { margin:0 0 4px; font-size:22px; font-weight:650; }
header.top .meta { color:#cbd5e1; font-size:13px; }
.answer { margin:14px 0 0; padding:12px 16px; background:#1e293b; border-left:4px solid #38bdf8;
          font-size:16px; border-radius:4px; }
.answer.secondary { font-size:14px; border-left-color:#a78bfa; margin-top:8px; }
.answer.underpowered { border-left-color:#f87171; background:#450a0a; }
.answer.control { font-size:14px; border-left-color:#4ade80; margin-top:8px; }
nav.toc { margin:14px 0 0; font-size:13px; }
nav.toc a { color:#93c5fd; margin-right:14px; text-decoration:none; }
section.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px 20px;
               margin:18px 0; }
section.card > h2 { margin:0 0 10px; font-size:18px; }
p.note, .note { color:var(--muted); font-size:12.5px; margin:6px 0; }
.notrun { color:var(--muted); font-style:italic; padding:10px 0; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { border-bottom:1px solid var(--line); padding:5px 8px; text-align:left; vertical-align:top; }
th { background:#f1f5f9; font-weight:600; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; white-space:nowrap; }
td.best { background:var(--good); font-weight:600; }
td.worse { color:#b91c1c; }
td.better { color:#15803d; }
.ci { color:var(--muted); font-size:11.5px; }
.swatch { display:inline-block; width:11px; height:11px; border-radius:2px; margin-right:4px;
          vertical-align:-1px; }
.legend span { margin-right:14px; font-size:12.5px; white-space:nowrap; }
img.plot { max-width:100%; height:auto; display:block; margin:8px auto; }
.grid2 { display:grid; grid-template-columns: 1fr 1fr; gap:16px; }
.gallery-item { border-top:1px solid var(--line); padding:14px 0; display:grid;
                grid-template-columns: 300px 1fr; gap:18px; }
.gallery-item:first-of-type { border-top:none; }
.gallery-item > div { min-width:0; }
.gallery-item td:nth-child(2) { min-width:140px; }
.gallery-item img.main { width:300px; height:auto; border-radius:4px; border:1px solid var(--line); }
img.thumb { width:140px; margin-top:6px; height:auto; border-radius:3px; border:1px solid var(--line); display:block; }
.missing { display:flex; align-items:center; justify-content:center; text-align:center; background:#f1f5f9;
           color:#991b1b; border:2px dashed #fca5a5; border-radius:4px; min-height:160px; padding:10px;
           font-size:12.5px; word-break:break-all; }
.badge { display:inline-block; white-space:nowrap; padding:1px 7px; border-radius:10px; font-size:11.5px; font-weight:600;
         background:#e2e8f0; color:#334155; }
.badge.real { background:#dcfce7; color:#166534; }
.badge.pseudo { background:#fef3c7; color:#92400e; }
.badge.task { background:#dbeafe; color:#1e40af; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.badge.fail { background:#fee2e2; color:#991b1b; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size:12.5px; }
.resp { white-space:pre-wrap; }
details summary { cursor:pointer; color:var(--accent); margin:6px 0; }
.warn { background:#fef2f2; color:#991b1b; border:1px solid #fecaca; padding:8px 12px; border-radius:6px;
        margin:10px 0; display:none; }
html[data-broken-images]:not([data-broken-images="0"]) .warn.broken { display:block; }
/* record browser */
.toolbar { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line);
           padding:10px 24px; display:flex; gap:12px; align-items:center; flex-wrap:wrap; }
.toolbar button { font:inherit; padding:5px 14px; border:1px solid #cbd5e1; border-radius:6px; background:#f8fafc;
                  cursor:pointer; }
.toolbar button:hover { background:#e2e8f0; }
.toolbar select { font:inherit; padding:4px 6px; border-radius:6px; border:1px solid #cbd5e1; }
.toolbar .pos { color:var(--muted); min-width:90px; }
.record { display:none; }
.record.current { display:grid; grid-template-columns: 520px 1fr; gap:20px; }
.record .imgcol img { width:512px; max-width:100%; height:auto; border-radius:4px; border:1px solid var(--line); }
.record .imgcol .missing { width:512px; max-width:100%; min-height:400px; }
.entry { border:1px solid var(--line); border-radius:6px; padding:8px 10px; margin:0 0 8px; background:#fff; }
.entry .head { display:flex; gap:6px; align-items:center; margin-bottom:4px; flex-wrap:wrap; }
.entry .instr { color:#334155; }
.entry .arrow { color:var(--muted); }
dl.meta { display:grid; grid-template-columns: max-content 1fr; gap:2px 10px; font-size:12.5px; margin:8px 0; }
dl.meta dt { color:var(--muted); }
dl.meta dd { margin:0; word-break:break-all; }
.empty { padding:40px; text-align:center; color:var(--muted); display:none; }
@media (max-width: 900px) { .grid2, .gallery-item, .record.current { grid-template-columns: 1fr; } }
"""

SELF_CHECK_JS: Final[str] = """
// After load, count images that failed to decode and expose the count on <html> (data-broken-images);
// a visible warning appears when it is not zero, and headless tests read the same attribute.
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  document.documentElement.setAttribute('data-images', String(imgs.length));
  document.documentElement.setAttribute('data-broken-images', String(broken));
  document.documentElement.setAttribute('data-ready', '1');
});
"""

BROWSER_JS: Final[str] = """
// Record browser: one section.record per image; show the current one among those that pass the
// split/task filter. The state lives in the URL fragment (#split=test&task=rec&i=3), so a view can be
// bookmarked or linked. Plain DOM, no libraries, so the page works from a file with no network.
(function () {
  var records = Array.prototype.slice.call(document.querySelectorAll('.record'));
  var split = document.getElementById('f-split'), task = document.getElementById('f-task');
  var pos = document.getElementById('pos'), empty = document.getElementById('empty');
  var visible = records, i = 0;
  function readHash() {
    var state = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
      var p = kv.split('=');
      if (p.length === 2) { state[p[0]] = decodeURIComponent(p[1]); }
    });
    function pick(sel, v) {
      if (v !== undefined && Array.prototype.some.call(sel.options, function (o) { return o.value === v; })) {
        sel.value = v;
      }
    }
    pick(split, state.split);
    pick(task, state.task);
    i = Math.max(0, (parseInt(state.i, 10) || 1) - 1);
  }
  function writeHash() {
    var h = '#split=' + encodeURIComponent(split.value) + '&task=' + encodeURIComponent(task.value) +
            '&i=' + (i + 1);
    if (history.replaceState) { history.replaceState(null, '', h); }
  }
  function apply() {
    visible = records.filter(function (r) {
      var okS = split.value === '' || r.dataset.split === split.value;
      var okT = task.value === '' || (' ' + r.dataset.tasks + ' ').indexOf(' ' + task.value + ' ') >= 0;
      return okS && okT;
    });
    if (i >= visible.length) { i = 0; }
    show();
  }
  function show() {
    records.forEach(function (r) { r.classList.remove('current'); });
    if (visible.length) {
      visible[i].classList.add('current');
      pos.textContent = (i + 1) + ' / ' + visible.length;
      empty.style.display = 'none';
    } else {
      pos.textContent = '0 / 0';
      empty.style.display = 'block';
    }
    writeHash();
  }
  function step(d) { if (visible.length) { i = (i + d + visible.length) % visible.length; show(); } }
  document.getElementById('prev').addEventListener('click', function () { step(-1); });
  document.getElementById('next').addEventListener('click', function () { step(1); });
  split.addEventListener('change', function () { i = 0; apply(); });
  task.addEventListener('change', function () { i = 0; apply(); });
  document.addEventListener('keydown', function (e) {
    if (e.target && e.target.tagName === 'SELECT') { return; }
    if (e.key === 'ArrowLeft') { step(-1); } else if (e.key === 'ArrowRight') { step(1); }
  });
  readHash();
  apply();
})();
"""
