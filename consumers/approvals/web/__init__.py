"""The approver web page (`/ui`), served by the approval bot next to its HTTP API.

`ApproverPage` owns the page's parts: who is asking (`auth`), the decisions (`decide`), the live
inbox (`inbox`), the history of decisions (`history`) and the handlers (`pages`). The JSON API
(`consumers.approvals.http_api`) shares its authentication and decision path.
"""

from __future__ import annotations

from aiohttp import web

from consumers.approvals.api import BotApi
from consumers.approvals.config import ApprovalSettings
from consumers.approvals.http_api import approval_routes
from consumers.approvals.state import StateStore
from consumers.approvals.web.auth import Auth
from consumers.approvals.web.decide import Decider
from consumers.approvals.web.history import AuditHistory
from consumers.approvals.web.inbox import Inbox, SessionFacts
from consumers.approvals.web.pages import Pages
from consumers.errors import ConsumerError
from streamer.kafka.config import KafkaSettings
from streamer.resource import AsyncResource


class ApproverPage(AsyncResource):
    """The page and the JSON API for one bot replica; `routes` once constructed."""

    def __init__(self, state: StateStore, settings: ApprovalSettings, kafka: KafkaSettings):
        try:
            self.auth = Auth(settings)
        except ValueError as exc:  # the message names the setting, never a token
            raise ConsumerError(str(exc), kind="config") from None
        self._api = BotApi(settings)
        self._history = AuditHistory(kafka, settings.history_size)
        inbox = Inbox(state, SessionFacts(self._api))
        self._history.listeners.append(inbox.on_audit)
        decider = Decider(state)
        pages = Pages(self.auth, decider, inbox, self._history)
        self.routes: list[web.RouteDef] = [
            *approval_routes(state, self.auth, decider), *pages.routes(),
        ]  # fmt: skip

    async def start(self) -> None:
        """Open the API client (session titles) and start following the audit topic."""
        await self._api.start()
        await self._history.start()

    async def stop(self) -> None:
        """Stop both; safe twice."""
        await self._history.stop()
        await self._api.stop()
