"""`streamer tail`'s lines: columns, colour, width, and text that cannot reach the terminal raw."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

from streamer.tail.printer import Printer
from streamer.tail.select import Selection

SESSION = "sesn_011CZkZAtmR3yMPDzynEDxu7"


def record(value: dict[str, Any] | bytes, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    headers = [("ce_subject", SESSION.encode())]
    if isinstance(value, dict):
        headers += [("ce_type", value["type"].encode()), ("ce_id", value["id"].encode()),
                    ("ce_time", value["processed_at"].encode())]  # fmt: skip
    return ConsumerRecord("events", 0, offset, 1796640000000, 0, SESSION.encode(), raw, None,
                          len(SESSION), len(raw), headers)  # fmt: skip


def message(text: str) -> dict[str, Any]:
    return {"id": "sevt_1", "type": "agent.message", "processed_at": "2026-12-07T10:11:12.345678Z",
            "content": [{"type": "text", "text": text}]}  # fmt: skip


def test_a_plain_line_has_time_short_session_type_and_summary() -> None:
    line = Printer(Selection()).render(record(message("Hello"))).decode()

    assert f"10:11:12.345  zynEDxu7  {'agent.message':<24}  Hello\n" == line


def test_escape_sequences_in_event_text_are_shown_not_obeyed() -> None:
    """A model's text with ESC, BEL, C1 CSI and a tab becomes visible `\\xNN`, coloured or not."""
    hostile = message("\x1b]0;pwned\x07\x1b[2J\x9bok\tgo")
    lines = [Printer(Selection(), colour=c).render(record(hostile)).decode() for c in (False, True)]

    shown = r"\x1b]0;pwned\x07\x1b[2J\x9bok go"
    assert [(True, False, False)] * 2 == [
        (shown in line, "\x07" in line, "\x9b" in line) for line in lines
    ]


def test_colour_only_when_asked() -> None:
    plain = Printer(Selection()).render(record(message("Hi")))
    coloured = Printer(Selection(), colour=True).render(record(message("Hi")))

    assert (b"\x1b[" in plain, b"\x1b[" in coloured) == (False, True)


def test_a_terminal_line_fits_its_width() -> None:
    printer = Printer(Selection(), width=80)
    line = printer.render(record(message("word " * 100))).decode().rstrip("\n")

    assert (80, True) == (len(line), line.endswith("…"))


def test_a_tool_result_names_the_tool_of_its_use_even_one_filtered_out() -> None:
    printer = Printer(Selection(types=("agent.tool_result",)))
    use = {"id": "toolu_1", "type": "agent.tool_use", "processed_at": "2026-12-07T10:00:00Z",
           "name": "bash", "input": {"command": "make"}}  # fmt: skip
    result = {"id": "sevt_2", "type": "agent.tool_result", "processed_at": "2026-12-07T10:00:01Z",
              "tool_use_id": "toolu_1", "content": []}  # fmt: skip

    assert (b"", True) == (
        printer.render(record(use)),
        printer.render(record(result, 1)).decode().rstrip().endswith("bash → ok"),
    )


def test_json_is_the_value_on_one_line_and_a_malformed_record_goes_to_stderr() -> None:
    warned: list[str] = []
    printer = Printer(Selection(), json=True, warn=warned.append)
    pretty = orjson.dumps(message("x"), option=orjson.OPT_INDENT_2)

    assert (message("x"), b"") == (
        orjson.loads(printer.render(record(pretty))),
        printer.render(record(b"not json", offset=7)),
    )
    assert (1, 1, True) == (
        len(printer.render(record(pretty)).splitlines()),
        len(warned),
        "offset 7" in warned[0],
    )
