"""A `Transcript` as Markdown, HTML or JSON Lines.

Tool inputs, results and messages come from the model and from tools, i.e. from whoever controls
what the agent reads: the HTML is built with every value escaped (and a Content-Security-Policy
that allows no script), and in Markdown inputs and results sit in code fences longer than any
backtick run inside them, so no value can close its fence.
"""

from __future__ import annotations

import html
import re
from dataclasses import asdict
from typing import Any

import orjson

from consumers.archive.transcript import Entry, Transcript

_LABELS = {"user_message": "User", "agent_message": "Agent", "tool_call": "Tool",
           "tool_result": "Tool result", "approval": "Approval", "error": "Error",
           "status": "Status", "event": "Event"}  # fmt: skip
_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.4}"
    "pre{background:#f4f4f4;padding:.5rem;white-space:pre-wrap;word-break:break-word}"
    ".meta{color:#666;font-size:.85rem}.error{color:#a00}section{margin:1rem 0}"
)


def render(transcript: Transcript, fmt: str) -> str:
    """The transcript as `fmt`: markdown | html | jsonl."""
    if fmt == "html":
        return to_html(transcript)
    if fmt == "jsonl":
        return to_jsonl(transcript)
    return to_markdown(transcript)


def to_jsonl(transcript: Transcript) -> str:
    """One JSON object per line: the session, each entry in order, then the totals."""
    head = {"kind": "session", "session_id": transcript.session_id,
            "agent_id": transcript.agent_id, "events": transcript.events,
            "first_at": transcript.first_at, "last_at": transcript.last_at}  # fmt: skip
    lines = [head, *(asdict(e) for e in transcript.entries)]
    lines.append({"kind": "totals", **asdict(transcript.totals)})
    return "".join(orjson.dumps(line, default=str).decode() + "\n" for line in lines)


def to_markdown(transcript: Transcript) -> str:
    """A Markdown document: header, one section per entry, totals."""
    t = transcript
    out = [f"# Session {t.session_id}", "",
           f"- agent: {t.agent_id or 'unknown'}", f"- events: {t.events}",
           f"- from {t.first_at} to {t.last_at}", ""]  # fmt: skip
    for entry in t.entries:
        out += _markdown_entry(entry)
    out += ["## Totals", "", *(f"- {k}: {v}" for k, v in _totals(t).items()), ""]
    return "\n".join(out)


def _markdown_entry(entry: Entry) -> list[str]:
    title = f"### {entry.at} · {_label(entry)}"
    if entry.tool:
        title += f" `{_inline(entry.tool)}`"
    lines = [title + (f" (thread {entry.thread_id})" if entry.thread_id else ""), ""]
    if entry.kind == "tool_call":
        lines += ["Input:", *_fence(_pretty(entry.tool_input))]
        if entry.approval:
            a = entry.approval
            note = f" — {a.message}" if a.message else ""
            lines += [f"Approval: **{a.decision}** by {a.by}{' at ' + a.at if a.at else ''}{note}"]
            lines.append("")
        if entry.result is not None:
            state = "error" if entry.is_error else "result"
            lines += [f"Result ({state}, {entry.result_at}):", *_fence(entry.result)]
    elif entry.text:
        lines += [entry.text, ""]
    return lines


def _label(entry: Entry) -> str:
    label = _LABELS.get(entry.kind, entry.kind)
    return f"{label} {entry.event_type}" if entry.kind == "event" else label


def _fence(text: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence, ""]


def _inline(text: str) -> str:
    return text.replace("`", "'")


def to_html(transcript: Transcript) -> str:
    """A self-contained HTML page; every value escaped."""
    t, e = transcript, _esc
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>Session {e(t.session_id)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Session {e(t.session_id)}</h1>",
        (
            f'<p class="meta">agent {e(t.agent_id or "unknown")} · {t.events} events · '
            f"{e(t.first_at)} to {e(t.last_at)}</p>"
        ),
    ]
    parts += [_html_entry(entry) for entry in t.entries]
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _totals(t).items())
    parts += [f"<h2>Totals</h2><table>{rows}</table>", "</body></html>", ""]
    return "\n".join(parts)


def _html_entry(entry: Entry) -> str:
    e = _esc
    css = ' class="error"' if entry.kind == "error" or entry.is_error else ""
    head = f"{e(entry.at)} · {e(_label(entry))}"
    if entry.tool:
        head += f" <code>{e(entry.tool)}</code>"
    if entry.thread_id:
        head += f" (thread {e(entry.thread_id)})"
    body = [f"<section{css}><h3>{head}</h3>"]
    if entry.kind == "tool_call":
        body.append(f"<p>Input:</p><pre>{e(_pretty(entry.tool_input))}</pre>")
        if entry.approval:
            a = entry.approval
            note = f" — {e(a.message)}" if a.message else ""
            at = f" at {e(a.at)}" if a.at else ""
            body.append(f"<p>Approval: <strong>{e(a.decision)}</strong> by {e(a.by)}{at}{note}</p>")
        if entry.result is not None:
            state = "error" if entry.is_error else "result"
            body.append(
                f"<p>Result ({state}, {e(entry.result_at)}):</p><pre>{e(entry.result)}</pre>"
            )
    elif entry.text:
        body.append(f"<pre>{e(entry.text)}</pre>")
    body.append("</section>")
    return "".join(body)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode()


def _totals(transcript: Transcript) -> dict[str, str]:
    totals = transcript.totals
    out = {"model requests": str(totals.model_requests)}
    out.update({name.replace("_", " "): str(n) for name, n in totals.tokens.items()})
    out["cost (list price)"] = totals.cost or "not reported"
    out["tool calls"] = str(totals.tool_calls)
    approvals = ", ".join(f"{k} {v}" for k, v in sorted(totals.approvals.items()))
    out["approvals"] = approvals or "none"
    out["errors"] = str(totals.errors)
    return out
