"""Opaque pagination cursors: each one remembers the `order` it was made for (spec §2.1)."""

from __future__ import annotations

import base64
import binascii

from simulator.errors import ApiError, invalid

ORDERS = ("asc", "desc")


def encode_cursor(kind: str, order: str, position: int) -> str:
    raw = f"{kind}:{order}:{position}".encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, order: str) -> tuple[str, int]:
    """The direction hint and position of `cursor`; 400 if foreign, garbled or for another order."""
    try:
        body = cursor.removeprefix("page_")
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        cursor_kind, cursor_order, position = text.split(":")
        value = int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid("page cursor is not valid", "invalid_page_cursor") from exc
    if not cursor_kind.startswith(kind):
        raise invalid("page cursor belongs to another list", "invalid_page_cursor")
    if cursor_order != order:
        raise invalid(
            f"page cursor was produced with order={cursor_order}; it cannot be used with "
            f"order={order}",
            "page_cursor_order_mismatch",
        )
    return cursor_kind, value


def parse_order(value: str | None, default: str) -> str:
    order = value or default
    if order not in ORDERS:
        raise invalid("order must be 'asc' or 'desc'", "invalid_order")
    return order


def parse_limit(value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError as exc:
        raise invalid("limit must be an integer", "invalid_limit") from exc
    if not 1 <= limit <= maximum:
        raise ApiError(400, f"limit must be between 1 and {maximum}", "invalid_limit")
    return limit
