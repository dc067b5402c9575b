"""Agent snapshots for sessions and the permission policy each tool call resolves to (spec §7)."""

from __future__ import annotations

from typing import Any

MODEL = "claude-sonnet-4-6"
TOOLSET = "agent_toolset_20260401"
ASKED_IN_CODING = ("bash", "write", "edit", "web_fetch")


def policy(kind: str) -> dict[str, str]:
    return {"type": kind}


def toolset(default: str, asked: tuple[str, ...] = ()) -> dict[str, Any]:
    configs = [
        {"type": name, "name": name, "enabled": True, "permission_policy": policy("always_ask")}
        for name in asked
    ]
    return {
        "type": TOOLSET,
        "default_config": {"enabled": True, "permission_policy": policy(default)},
        "configs": configs,
    }


MCP_TOOLSET = {
    "type": "mcp_toolset",
    "mcp_server_name": "github",
    "default_config": {"enabled": True, "permission_policy": policy("always_ask")},
    "configs": [],
}
MCP_SERVERS = [{"type": "url", "name": "github", "url": "https://mcp.example.com/github"}]
CUSTOM_TOOL = {
    "type": "custom",
    "name": "lookup_customer",
    "description": "Look a customer up in the CRM.",
    "input_schema": {"type": "object", "properties": {"customer_id": {"type": "string"}}},
}


def scenario_tools(scenario: str) -> list[dict[str, Any]]:
    """The tools an agent of this scenario gets when the session does not override them."""
    if scenario == "coding":
        return [toolset("always_allow", ASKED_IN_CODING)]
    if scenario in ("mixed", "chaos"):
        return [toolset("auto", ("bash",)), MCP_TOOLSET, CUSTOM_TOOL]
    return [toolset("always_allow")]


def snapshot(agent_id: str, scenario: str, tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        "type": "agent",
        "id": agent_id,
        "version": 1,
        "name": f"{scenario} agent",
        "description": f"Simulated agent for the {scenario} scenario",
        "model": {"id": MODEL, "speed": "standard"},
        "system": "You are a careful software engineer.",
        "tools": tools if tools is not None else scenario_tools(scenario),
        "mcp_servers": MCP_SERVERS if scenario in ("mixed", "chaos") else [],
        "skills": [],
        "execution_identity": {"type": "service_account"},
    }


def resolve_policy(agent: dict[str, Any], tool_name: str) -> str:
    """The policy type for a built-in tool: its own config, else the toolset default."""
    for tool in agent.get("tools", []):
        if tool.get("type") != TOOLSET:
            continue
        for config in tool.get("configs") or []:
            if config.get("name") == tool_name and config.get("permission_policy"):
                return str(config["permission_policy"]["type"])
        default = tool.get("default_config") or {}
        return str((default.get("permission_policy") or {}).get("type", "always_allow"))
    return "always_allow"


def resolve_mcp_policy(agent: dict[str, Any]) -> str:
    """The policy of the (first) MCP toolset; MCP toolsets default to always_ask (spec §7.1)."""
    for tool in agent.get("tools", []):
        if tool.get("type") == "mcp_toolset":
            default = tool.get("default_config") or {}
            return str((default.get("permission_policy") or {}).get("type", "always_ask"))
    return "always_ask"
