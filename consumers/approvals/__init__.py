"""The approval bot: answers Managed Agents tool confirmations by policy or by a person."""
