"""The contact sheet: one HTML page of takes grouped by request, for the review server (with its
buttons) and for `imagine gallery` (one self-contained file, without them).

Everything shown comes from the ledger, and a prompt can hold anything: every value is escaped
where it is written, and the page runs no script but its own (the server sends a nonce CSP).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from imagine import ids
from imagine.money.pricing import format_usd, ticks_to_usd
from imagine.review.takes import Request, Take


@dataclass(frozen=True)
class Sheet:
    """How a page refers to each take's files, and whether it has buttons."""

    title: str
    video_url: Callable[[Take], str | None]  # None: no video to play
    poster_url: Callable[[Take], str | None]
    buttons: bool
    nonce: str | None = None  # the CSP nonce of the page's style and script


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def render(requests: Sequence[Request], sheet: Sheet) -> str:
    nonce = f' nonce="{e(sheet.nonce)}"' if sheet.nonce else ""
    count = sum(len(request.takes) for request in requests)
    body = "\n".join(_request(request, sheet) for request in requests) or (
        '<p class="empty">No renders to review here yet.</p>'
    )
    keys = (
        "← → ↑ ↓ move · space play · a approve · r reject · p promote · u undo · n new take"
        if sheet.buttons
        else "← → ↑ ↓ move · space play"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{e(sheet.title)}</title>
<style{nonce}>{_STYLE}</style></head>
<body>
<header><h1>{e(sheet.title)}</h1><span class="count">{count} take(s)</span>
<span class="keys">{e(keys)}</span>
<output id="status" role="status" aria-live="polite"></output></header>
<main>
{body}
</main>
<script{nonce}>(() => {{{_NAVIGATE}{_ACT if sheet.buttons else ""}}})();</script>
</body></html>
"""


def _request(request: Request, sheet: Sheet) -> str:
    cards = "\n".join(_card(take, sheet) for take in request.takes)
    prompt = request.prompt or "(no prompt)"
    return f"""<section class="request"><h2 title="{e(prompt)}">{e(prompt)}</h2>
<div class="takes">
{cards}
</div></section>"""


def _card(take: Take, sheet: Sheet) -> str:
    job = take.job
    video, poster = sheet.video_url(take), sheet.poster_url(take)
    poster_attr = f' poster="{e(poster)}"' if poster else ""
    if video:
        media = f'<video controls preload="none" src="{e(video)}"{poster_attr}></video>'
    else:
        media = '<div class="missing">file missing</div>'
    facts = " · ".join(
        e(part)
        for part in (
            job.model,
            f"{job.output_seconds:g}s",
            job.resolution or "",
            _cost(take),
        )
        if part
    )
    promote = (
        '<button data-verb="promote" title="p">Promote</button>'
        if job.preview
        else '<button data-verb="promote" disabled title="only a --preview render">Promote</button>'
    )
    buttons = (
        f"""<div class="actions">
<button data-verb="approve" title="a">Approve</button>
<button data-verb="reject" title="r">Reject</button>
{promote}
<button data-verb="rerun" title="n">Re-run</button>
</div>"""
        if sheet.buttons
        else ""
    )
    state = take.state.value
    return f"""<article class="take" tabindex="0" data-job="{e(job.id)}" data-state="{e(state)}">
{media}
<div class="meta"><span class="which">#{e(job.seq)} {e(ids.short(job.id))}</span>
<span class="n">take {take.number} of {take.takes}</span>
<span class="state">{e(state)}</span></div>
<div class="facts">{facts}</div>
<p class="prompt" title="{e(job.prompt or "")}">{e(job.prompt or "")}</p>
{buttons}
</article>"""


def _cost(take: Take) -> str:
    job = take.job
    if job.cost_ticks is not None:
        return format_usd(ticks_to_usd(job.cost_ticks))
    if job.cost_estimate_usd is not None:
        return "~" + format_usd(job.cost_estimate_usd)
    return ""


_STYLE = """
:root { color-scheme: light dark; --ok: #1a7f37; --no: #c62828; --focus: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.35 system-ui, sans-serif; }
header { position: sticky; top: 0; z-index: 1; display: flex; gap: 1em; align-items: baseline;
  flex-wrap: wrap; padding: .5em 1em; background: Canvas; border-bottom: 1px solid GrayText; }
h1 { font-size: 1.1em; margin: 0; }
.keys, .count { color: GrayText; }
#status { margin-left: auto; font-weight: 600; }
main { padding: .5em 1em 2em; }
.request h2 { font-size: 1em; margin: 1em 0 .4em; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.takes { display: grid; gap: .8em; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); }
.take { border: 2px solid transparent; border-radius: 6px; padding: .4em; outline: none;
  background: color-mix(in srgb, Canvas 92%, GrayText); }
.take:focus { border-color: var(--focus); }
.take[data-state=approved] { border-left: 6px solid var(--ok); }
.take[data-state=rejected] { border-left: 6px solid var(--no); opacity: .6; }
video, .missing { width: 100%; aspect-ratio: 16 / 9; background: #000; display: block;
  border-radius: 4px; }
.missing { color: #fff; display: grid; place-items: center; }
.meta { display: flex; gap: .6em; margin-top: .3em; }
.state { margin-left: auto; font-weight: 600; text-transform: uppercase; font-size: .8em; }
[data-state=approved] .state { color: var(--ok); }
[data-state=rejected] .state { color: var(--no); }
.facts { color: GrayText; font-size: .9em; }
.prompt { margin: .3em 0; display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical;
  overflow: hidden; overflow-wrap: anywhere; }
.actions { display: flex; gap: .3em; flex-wrap: wrap; }
.actions button { flex: 1; cursor: pointer; }
.empty { color: GrayText; }
"""

# Moves focus between takes with the arrows, and plays the focused one with space.
_NAVIGATE = """
const cards = () => [...document.querySelectorAll('.take')];
const say = (text) => { document.getElementById('status').textContent = text; };
const focused = () => document.activeElement?.closest?.('.take');
const top = (card) => card.getBoundingClientRect().top;
const middle = (card) => { const box = card.getBoundingClientRect(); return box.left + box.width / 2; };
const move = (card, dx, dy) => {
  const all = cards();
  if (!card) { all[0]?.focus(); return; }
  let next = all[all.indexOf(card) + dx];
  if (dy) {
    const rows = all.filter((c) => dy > 0 ? top(c) > top(card) + 4 : top(c) < top(card) - 4);
    const row = (dy > 0 ? Math.min : Math.max)(...rows.map(top));
    next = rows.filter((c) => Math.abs(top(c) - row) < 4)
      .sort((a, b) => Math.abs(middle(a) - middle(card)) - Math.abs(middle(b) - middle(card)))[0];
  }
  if (next) { next.focus(); next.scrollIntoView({block: 'nearest'}); }
};
const arrows = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
const keys = {};
document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const card = focused();
  if (arrows[event.key]) {
    event.preventDefault();
    move(card, ...arrows[event.key]);
  } else if (event.key === ' ' && card) {
    event.preventDefault();
    const video = card.querySelector('video');
    if (video) video.paused ? video.play() : video.pause();
  } else if (keys[event.key] && card) {
    event.preventDefault();
    keys[event.key](card);
  }
});
cards()[0]?.focus();
"""

# The review server's actions: each a POST with the custom header the server requires (a page
# of another site cannot add it without a CORS preflight, which the server never answers).
_ACT = """
const act = async (card, verb) => {
  say(verb + '…');
  try {
    const answer = await fetch('action/' + encodeURIComponent(card.dataset.job) + '/' + verb,
      {method: 'POST', headers: {'X-Imagine-Review': '1'}, credentials: 'same-origin'});
    const result = await answer.json();
    if (result.state) {
      card.dataset.state = result.state;
      card.querySelector('.state').textContent = result.state;
    }
    say(result.message || answer.statusText);
  } catch (error) { say(verb + ' failed: ' + error); }
};
document.addEventListener('click', (event) => {
  const button = event.target.closest('[data-verb]');
  if (button) act(button.closest('.take'), button.dataset.verb);
});
for (const [key, verb] of Object.entries({a: 'approve', r: 'reject', p: 'promote', u: 'reset', n: 'rerun'})) {
  keys[key] = (card) => act(card, verb);
}
"""
