"""The approval bot: answers gated tool uses by policy, escalates the rest to people, audits all."""
