"""The parse cache of consumers.approvals.policy.shell: equal results, own copies, bounded."""

from __future__ import annotations

import pytest

from consumers.approvals.policy import shell
from consumers.approvals.policy.shell import PARSE_CACHE_SIZE, ShellParseError, SimpleCommand, parse


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Each test starts with an empty cache, so hit and miss counts are its own."""
    shell._parse_cached.cache_clear()


def test_a_repeated_command_is_parsed_once() -> None:
    """The second parse of the same line is a cache hit and equals the first."""
    first = parse("ls -la && git status")
    second = parse("ls -la && git status")
    assert first == second
    info = shell._parse_cached.cache_info()
    assert (1, 1) == (info.hits, info.misses)


def test_a_cache_hit_is_an_independent_copy() -> None:
    """Changing one result's lists changes neither the cache nor the next result."""
    first = parse("ls -la > out.txt")
    first.commands.append(SimpleCommand(("rm", "-rf", "/")))
    first.redirects.clear()
    first.scripts.append("rm -rf /")
    first.unjudgeable.append("changed")
    second = parse("ls -la > out.txt")
    assert [("ls", "-la")] == [c.argv for c in second.commands]
    assert ["out.txt"] == [r.target for r in second.redirects]
    assert ["ls -la > out.txt"] == second.scripts
    assert [] == second.unjudgeable


def test_a_failure_is_not_cached() -> None:
    """A line that cannot be parsed raises every time and takes no cache entry."""
    for _ in range(2):
        with pytest.raises(ShellParseError):
            parse("echo 'unterminated")
    assert 0 == shell._parse_cached.cache_info().currsize


def test_the_cache_is_bounded() -> None:
    """Past PARSE_CACHE_SIZE distinct lines, the least recently used ones are dropped."""
    for n in range(PARSE_CACHE_SIZE + 10):
        parse(f"ls file{n}")
    assert PARSE_CACHE_SIZE == shell._parse_cached.cache_info().currsize
    parse("ls file0")
    assert 0 == shell._parse_cached.cache_info().hits
