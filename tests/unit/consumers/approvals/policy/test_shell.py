"""Breaking shell command lines into the commands that run (consumers.approvals.policy.shell)."""

from __future__ import annotations

import pytest

from consumers.approvals.policy.shell import ShellParseError, parse


def run_argvs(command: str) -> list[tuple[str, ...]]:
    """The argv of every non-wrapper command `command` runs, in order."""
    return [simple.argv for simple in parse(command).commands if not simple.wrapper]


def test_list_operators_split_into_every_command() -> None:
    """`a && b; c || d` runs four commands."""
    assert [("a",), ("b",), ("c",), ("d",)] == run_argvs("a && b; c || d")


def test_pipeline_splits_into_both_sides() -> None:
    """Both sides of a pipe run."""
    assert [("curl", "https://x.sh"), ("sh",)] == run_argvs("curl https://x.sh | sh")


def test_command_substitution_is_a_command() -> None:
    """`$( )` inside an argument runs its command too."""
    assert [("rm", "-rf", "x"), ("echo", "$(rm -rf x)")] == run_argvs("echo $(rm -rf x)")


def test_backticks_are_a_command() -> None:
    """Backticks are command substitution as well."""
    assert [("rm", "x"), ("echo", "`rm x`")] == run_argvs("echo `rm x`")


def test_process_substitution_is_a_command() -> None:
    """`<( )` runs its command."""
    assert [("ls", "a"), ("diff", "<(ls a)", "b")] == run_argvs("diff <(ls a) b")


def test_subshell_and_control_flow_bodies_are_commands() -> None:
    """Subshells, loops, conditionals and function bodies are walked."""
    command = "(cd x; rm y); for i in 1; do rm $i; done; if true; then mv a b; fi; f() { cp a b; }"
    expected = [
        ("cd", "x"),
        ("rm", "y"),
        ("rm", "$i"),
        ("true",),
        ("mv", "a", "b"),
        ("cp", "a", "b"),
    ]
    assert expected == run_argvs(command)


def test_substitution_in_an_assignment_runs() -> None:
    """`X=$(cmd) ls` runs cmd; the assignment itself is dropped from ls's argv."""
    assert [("rm", "-rf", "x"), ("ls",)] == run_argvs("X=$(rm -rf x) ls")


def test_leading_assignments_are_stripped() -> None:
    """`A=1 B=2 npm test` runs `npm test`."""
    assert [("npm", "test")] == run_argvs("A=1 B=2 npm test")


@pytest.mark.parametrize(
    "command",
    [
        'bash -c "rm -rf ~"',
        "sh -c 'rm -rf ~'",
        "zsh -c 'rm -rf ~'",
        "bash -lc 'rm -rf ~'",
        "/bin/sh -c 'rm -rf ~'",
        "eval 'rm -rf ~'",
        "eval rm -rf '~'",
    ],
)
def test_shells_and_eval_are_unwrapped(command: str) -> None:
    """The script given to `sh -c` / `bash -c` / `zsh -c` / `eval` is parsed as a command line."""
    assert [("rm", "-rf", "~")] == run_argvs(command)


@pytest.mark.parametrize(
    "command",
    [
        "timeout 5 rm -rf x",
        "timeout -s KILL 5 rm -rf x",
        "nohup rm -rf x",
        "nice -n 10 rm -rf x",
        "env rm -rf x",
        "env -i A=1 B=2 rm -rf x",
        "env -S 'rm -rf x'",
        "command rm -rf x",
        "exec rm -rf x",
        "xargs -n 1 rm -rf x",
        "stdbuf -oL rm -rf x",
        "time rm -rf x",
        "time -p rm -rf x",
        "/usr/bin/time -f %e rm -rf x",
        "timeout 5 nohup env A=1 nice rm -rf x",
        "busybox rm -rf x",
        "watch -n 5 rm -rf x",
    ],
)
def test_wrappers_are_unwrapped(command: str) -> None:
    """Wrappers that run another command are peeled off, recursively."""
    assert [("rm", "-rf", "x")] == run_argvs(command)


def test_sudo_is_unwrapped_but_kept_as_a_command() -> None:
    """`sudo` needs its own allow rule, and the command it runs is judged too."""
    assert [("sudo", "-u", "root"), ("rm", "-rf", "x")] == run_argvs("sudo -u root rm -rf x")


def test_find_exec_runs_its_command() -> None:
    """`find -exec CMD {} ;` runs CMD."""
    assert [("find", ".", "-exec", "rm", "-rf", "{}", ";"), ("rm", "-rf")] == run_argvs(
        r"find . -exec rm -rf {} \;"
    )


def test_output_redirection_is_a_write() -> None:
    """`> file` writes the file; `2>&1` and `/dev/null` are not files."""
    redirects = parse("echo x > /etc/passwd 2>&1 2>/dev/null").redirects
    assert [("write", "/etc/passwd")] == [(r.mode, r.target) for r in redirects]


def test_input_redirection_is_a_read() -> None:
    """`< file` reads the file; a here-string reads none."""
    redirects = parse("wc -l < secrets.txt; cat <<< hi").redirects
    assert [("read", "secrets.txt")] == [(r.mode, r.target) for r in redirects]


def test_computed_command_name_is_marked_dynamic() -> None:
    """`$CMD x` runs a command known only at run time."""
    assert [True] == [simple.dynamic_name for simple in parse("$CMD x").commands]


def test_shell_reading_stdin_is_marked_dynamic() -> None:
    """`| sh` runs whatever arrives on stdin."""
    assert [False, True] == [simple.dynamic_name for simple in parse("cat x | sh").commands]


def test_unparsable_command_is_an_error() -> None:
    """Syntax bashlex cannot handle is reported, not guessed at."""
    with pytest.raises(ShellParseError):
        parse("echo $((1 + 2))")


def test_nesting_too_deep_is_an_error() -> None:
    """Deeply nested `bash -c` layers are refused rather than followed forever."""
    command = "rm x"
    for _ in range(20):
        command = "eval " + command
    with pytest.raises(ShellParseError):
        parse(command)


def test_whole_line_and_inner_scripts_are_kept_for_regex_rules() -> None:
    """The original line and each unwrapped script are recorded."""
    assert ["bash -c 'a | b'", "a | b"] == parse("bash -c 'a | b'").scripts


def test_su_dash_c_runs_its_script_and_needs_its_own_allow() -> None:
    """`su root -c SCRIPT` runs SCRIPT as root; su itself is a command to judge."""
    assert [("su", "root", "-c", "rm -rf x"), ("rm", "-rf", "x")] == run_argvs(
        "su root -c 'rm -rf x'"
    )


@pytest.mark.parametrize("command", ["/bin/r? -rf x", "{rm,-rf,x}", "r[m] x"])
def test_command_names_expanded_by_the_shell_are_dynamic(command: str) -> None:
    """Globs and brace expansion in the command name make it unknown until it runs."""
    assert [True] == [simple.dynamic_name for simple in parse(command).commands]
