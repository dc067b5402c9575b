"""`Policy`: load once, then judge tool calls; judging never raises."""

from __future__ import annotations

import hashlib
from pathlib import Path

import structlog

from consumers.approvals.policy.calls import BadInputError, parts_of
from consumers.approvals.policy.loader import Loaded, load_text
from consumers.approvals.policy.model import Decision, PolicyError, ToolCall
from consumers.approvals.policy.rules import KINDS, Kind, Part, Rule
from consumers.approvals.policy.sources import Syntax

log = structlog.get_logger(__name__)


class Policy:
    """An approval policy: `deny` beats `ask` beats `allow`, unmatched calls get the default.

    A call with several parts (a shell command line runs several commands and may redirect to
    files) is denied when any part is denied, asked when any part is asked or matched by nothing,
    and allowed only when every part is allowed.
    """

    def __init__(self, loaded: Loaded, version: str) -> None:
        self.version = version
        self.warnings: list[str] = list(loaded.warnings)
        self._rules = loaded.rules
        self._default: Kind = loaded.default
        self._default_message = loaded.default_message
        self._settings = loaded.settings

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read and validate the policy file at `path` (YAML if .yaml/.yml, else TOML)."""
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read the policy file ({exc.strerror})") from None
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError(f"{path}: the policy file is not UTF-8 text") from None
        return cls(load_text(text, str(path)), _digest(content))

    @classmethod
    def from_text(cls, text: str, source: str = "<policy>", syntax: Syntax | None = None) -> Policy:
        """Validate the policy in `text`; `source` names it in error messages.

        `syntax` ("toml" or "yaml") defaults to YAML when `source` ends in .yaml/.yml.
        """
        return cls(load_text(text, source, syntax), _digest(text.encode("utf-8")))

    def evaluate(self, call: ToolCall) -> Decision:
        """The decision for `call`. Never raises: what cannot be judged goes to a person."""
        try:
            return self._evaluate(call)
        except BadInputError as exc:
            log.info("policy_input_rejected", tool=call.tool, problem=exc.problem)
            return self._bad_input(call, exc)
        except Exception:  # a bug here must not stop the bot: a person decides instead
            log.exception("policy_evaluation_failed", tool=call.tool)
            return Decision("ask", None, "the policy could not judge this call", self.version)

    def _evaluate(self, call: ToolCall) -> Decision:
        judged = [(part, *self._judge(part, call)) for part in parts_of(call, self._settings)]
        for _, kind, rule in judged:
            if kind == "deny" and rule is not None:
                return self._decide("deny", rule, rule.reason or _deny_reason(rule))
        runs = [(part, kind, rule) for part, kind, rule in judged if part.role == "run"]
        unmatched = [part for part, kind, _ in runs if kind is None]
        if self._default == "deny" and any(part.opaque is None for part in unmatched):
            return Decision("deny", None, self._default_message, self.version)
        for _, kind, rule in judged:
            if kind == "ask" and rule is not None:
                return self._decide("ask", rule, rule.reason)
        for part in unmatched:
            return Decision("ask", None, part.opaque or "no rule matches this call", self.version)
        if not runs:
            return Decision("ask", None, "the call runs nothing a rule can allow", self.version)
        texts = list(dict.fromkeys(rule.text for _, _, rule in runs if rule is not None))
        return Decision("allow", "; ".join(texts), None, self.version)

    def _judge(self, part: Part, call: ToolCall) -> tuple[Kind | None, Rule | None]:
        for kind in KINDS:
            if kind == "allow" and part.role != "run":
                break
            for rule in self._rules[kind]:
                if rule.matches(part, call, self._settings):
                    return kind, rule
        return None, None

    def _bad_input(self, call: ToolCall, exc: BadInputError) -> Decision:
        """Bare-tool deny rules still apply to input that cannot be judged; else ask."""
        part = Part(call.tool, {}, opaque=str(exc))
        kind, rule = self._judge(part, call)
        if kind == "deny" and rule is not None:
            return self._decide("deny", rule, rule.reason or _deny_reason(rule))
        return Decision("ask", None, str(exc), self.version, problem=exc.problem)

    def _decide(self, action: Kind, rule: Rule, reason: str | None) -> Decision:
        return Decision(action, rule.text, reason, self.version)


def _deny_reason(rule: Rule) -> str:
    return f"Denied by the approval policy (rule {rule.text})."


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:12]
