"""The generated completions and man page (scripts/gen_docs.py): fresh, complete, valid.

- the committed files are what the generator produces now (else: which ones are stale);
- every command path and every option flag of the click tree is in each of the four
  outputs, at its own command's level (the tree is walked here, independently of the
  generator);
- the shell files parse, and the bash completion completes what it should.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import typer.main
from typer import _click as click

from claw.cli import app

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_docs.py"
BASH, ZSH, FISH, MAN = (
    "completions/claw.bash",
    "completions/_claw",
    "completions/claw.fish",
    "man/claw.1",
)
OUTPUTS = (BASH, ZSH, FISH, MAN)


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def stale_files(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [
        ln.removeprefix("stale: ") for ln in proc.stdout.splitlines() if ln.startswith("stale: ")
    ]


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_claw_gen_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def outputs(generator: ModuleType) -> dict[str, str]:
    return generator.render_all()


# -- the click tree, walked here -------------------------------------------------------


def command_tree() -> list[tuple[tuple[str, ...], list[str], list[str]]]:
    """[(command path, option flags, subcommand names)] for every visible command."""
    out: list[tuple[tuple[str, ...], list[str], list[str]]] = []

    def walk(cmd, name: str, parent, path: tuple[str, ...]) -> None:
        ctx = click.Context(cmd, parent=parent, info_name=name, **cmd.context_settings)
        path = (*path, name)
        flags = [
            f
            for p in cmd.get_params(ctx)
            if p.param_type_name == "option" and not getattr(p, "hidden", False)
            for f in (*p.opts, *p.secondary_opts)
        ]
        subs = []
        if hasattr(cmd, "list_commands"):
            subs = [s for s in cmd.list_commands(ctx) if not cmd.get_command(ctx, s).hidden]
        out.append((path, flags, subs))
        for sub in subs:
            walk(cmd.get_command(ctx, sub), sub, ctx, path)

    walk(typer.main.get_command(app), "claw", None, ())
    return out


TREE = command_tree()
IDS = [" ".join(path) for path, _, _ in TREE]


def test_the_tree_walk_sees_the_cli() -> None:
    paths = {path for path, _, _ in TREE}
    assert {
        ("claw",),
        ("claw", "send"),
        ("claw", "sessions", "list"),
        ("claw", "config", "get"),
    } <= paths
    flags = dict((path, fl) for path, fl, _ in TREE)
    assert {"--home", "-v", "--verbose", "--version", "-h", "--help"} <= set(flags[("claw",)])
    assert "--limit" in flags[("claw", "sessions", "list")]


# -- (a) the committed files are fresh ---------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    proc = run_generator("--check")
    stale = stale_files(proc)
    assert proc.returncode == 0 and not stale, (
        f"stale generated files: {', '.join(stale) or '(see output)'}; regenerate with "
        f"`.venv/bin/python scripts/gen_docs.py`\n{proc.stdout}{proc.stderr}"
    )


def test_check_names_exactly_the_stale_files(tmp_path: Path) -> None:
    proc = run_generator("--check", "--root", str(tmp_path))
    assert proc.returncode == 1
    assert sorted(stale_files(proc)) == sorted(OUTPUTS)  # missing counts as stale
    assert not any(tmp_path.iterdir()), "--check must not write"

    assert run_generator("--root", str(tmp_path)).returncode == 0
    assert run_generator("--check", "--root", str(tmp_path)).returncode == 0

    fish = tmp_path / FISH
    fish.write_text(fish.read_text() + "# hand edit\n")
    proc = run_generator("--check", "--root", str(tmp_path))
    assert proc.returncode == 1
    assert stale_files(proc) == [FISH]


def test_output_is_deterministic(generator: ModuleType, outputs: dict[str, str]) -> None:
    assert generator.render_all() == outputs
    for rel, text in outputs.items():
        assert "2026" not in text and "2025" not in text, f"{rel} looks dated"


# -- (b) every command and option in every output ---------------------------------------


def _token(flag: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])")


@pytest.mark.parametrize(("path", "flags", "subs"), TREE, ids=IDS)
def test_bash_covers(outputs: dict[str, str], path, flags, subs) -> None:
    name = " ".join(path)
    m = re.search(rf'^\s*"{re.escape(name)}"\) opts="([^"]*)"; subs="([^"]*)"', outputs[BASH], re.M)
    assert m, f"bash: no entry for `{name}`"
    assert set(flags) <= set(m.group(1).split()), f"bash: `{name}` misses options"
    assert set(subs) <= set(m.group(2).split()), f"bash: `{name}` misses subcommands"
    for sub in subs:
        assert f'"{name}|{sub}") cmd="{name} {sub}"' in outputs[BASH]


@pytest.mark.parametrize(("path", "flags", "subs"), TREE, ids=IDS)
def test_zsh_covers(outputs: dict[str, str], path, flags, subs) -> None:
    func = "_" + "_".join(p.replace("-", "_") for p in path)
    m = re.search(rf"^{re.escape(func)}\(\) {{\n(.*?)^}}$", outputs[ZSH], re.M | re.S)
    assert m, f"zsh: no function {func}"
    body = m.group(1)
    missing = [f for f in flags if not _token(f).search(body)]
    assert not missing, f"zsh: {func} misses {missing}"
    for sub in subs:
        assert re.search(rf"^\s*'{re.escape(sub)}:\S", body, re.M), f"zsh: {sub} undescribed"
        assert f"({sub}) {func}_{sub.replace('-', '_')}" in body


def _fish_entries(text: str) -> dict[frozenset[str], set[str]]:
    """{the subcommands a line's condition requires: the flags and words it offers}."""
    out: dict[frozenset[str], set[str]] = {}
    for line in text.splitlines():
        m = re.match(r"complete -c claw -n '([^']*)' (.*)$", line)
        if not m:
            continue
        cond, rest = m.groups()
        seen = frozenset(re.findall(r"(?<!not )__fish_seen_subcommand_from ([^\s;]+)", cond))
        got = out.setdefault(seen, set())
        got.update("--" + x for x in re.findall(r"(?:^| )-l (\S+)", rest))
        got.update("-" + x for x in re.findall(r"(?:^| )-[so] (\S+)", rest))
        got.update(re.findall(r"(?:^| )-a (\w\S*)", rest))
    return out


@pytest.mark.parametrize(("path", "flags", "subs"), TREE, ids=IDS)
def test_fish_covers(outputs: dict[str, str], path, flags, subs) -> None:
    entries = _fish_entries(outputs[FISH])
    offered = entries.get(frozenset(path[1:]), set())
    missing = [x for x in (*flags, *subs) if x not in offered]
    assert not missing, f"fish: `{' '.join(path)}` misses {missing}"


@pytest.mark.parametrize(("path", "flags", "subs"), TREE, ids=IDS)
def test_man_covers(outputs: dict[str, str], path, flags, subs) -> None:
    man = outputs[MAN]
    if len(path) == 1:
        m = re.search(r"^\.SH GLOBAL OPTIONS\n(.*?)^\.SH ", man, re.M | re.S)
    else:
        title = " ".join(p.replace("-", "\\-") for p in path)
        m = re.search(rf"^\.SS {re.escape(title)}\n(.*?)^\.S[SH] ", man, re.M | re.S)
    assert m, f"man: no section for `{' '.join(path)}`"
    section = m.group(1)
    missing = [f for f in flags if "\\fB" + f.replace("-", "\\-") + "\\fR" not in section]
    assert not missing, f"man: `{' '.join(path)}` misses {missing}"
    for sub in subs:  # a group lists its subcommands; the root's are the COMMANDS
        if len(path) == 1:
            assert re.search(rf"^\.SS claw {re.escape(sub)}$", man, re.M)
        else:
            assert f"\\fB{sub.replace('-', chr(92) + '-')}\\fR" in section


def test_man_has_the_required_sections(outputs: dict[str, str]) -> None:
    sections = re.findall(r"^\.SH (.*)$", outputs[MAN], re.M)
    assert sections == [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "GLOBAL OPTIONS",
        "COMMANDS",
        "ENVIRONMENT",
        "FILES",
        "EXIT STATUS",
    ]
    man = outputs[MAN]
    for word in (
        "CLAW_HOME",
        "CLAW_<SECTION>__<KEY>",
        "NO_COLOR",
        "CLAW_DEBUG",
        "config.toml",
        "gateway.token",
        "sessions/",
    ):
        assert word in man
    for code in ("0", "1", "2", "130"):
        assert f".TP\n\\fB{code}\\fR\n" in man
    # roff hygiene: no unescaped option dashes, no text line read as a request
    assert not re.search(r"(?<![\\\w-])--?[a-z]", man)
    assert all(ord(c) < 128 for c in man)


# -- (c) the shell files are valid, and bash completes -----------------------------------


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.skip(f"{tool} is not installed")
    return path


def test_bash_syntax() -> None:
    bash = _need("bash")
    proc = subprocess.run([bash, "-n", str(ROOT / BASH)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_zsh_syntax() -> None:
    zsh = _need("zsh")
    proc = subprocess.run([zsh, "-n", str(ROOT / ZSH)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_fish_syntax() -> None:
    fish = _need("fish")
    proc = subprocess.run([fish, "-n", str(ROOT / FISH)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_man_page_renders_without_warnings() -> None:
    groff = _need("groff")
    proc = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", str(ROOT / MAN)], capture_output=True, text=True
    )
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


BASH_CASES = [
    ("claw sess", ["sessions"]),
    ("claw sessions li", ["list"]),
    ("claw send --mo", ["--model", "--mode"]),
    (
        "claw ",
        [
            "init",
            "send",
            "chat",
            "serve",
            "status",
            "stop",
            "rpc",
            "notify",
            "queue",
            "heartbeat",
            "agents",
            "bindings",
            "route",
            "pairing",
            "channels",
            "tasks",
            "memory",
            "cron",
            "config",
            "sessions",
            "tools",
            "skills",
        ],
    ),
    ("claw queue ", ["list", "show", "retry", "purge", "stats", "flush"]),
    ("claw memory ", ["search", "index", "add", "status"]),
    ("claw memory search --", ["--agent", "--json", "--help"]),
    ("claw memory add --", ["--long-term", "--agent", "--json", "--help"]),
    (
        "claw notify --",
        ["--channel", "--to", "--account", "--wait", "--timeout", "--json", "--help"],
    ),
    ("claw --ve", ["--verbose", "--version"]),
    ("claw --home /tmp sessions ", ["list", "show", "clear", "delete", "archive", "reindex"]),
    ("claw sessions list --", ["--agent", "--limit", "--json", "--help"]),
    ("claw sessions archive --older-than 3d --j", ["--json"]),
    ("claw send -m ", []),  # the option's value: free text
    ("claw sessions --ho", []),  # --home belongs to the root, not to `sessions`
]


@pytest.mark.parametrize(("line", "expected"), BASH_CASES, ids=[c[0] for c in BASH_CASES])
def test_bash_completes(line: str, expected: list[str]) -> None:
    bash = _need("bash")
    words = line.split(" ")
    quoted = " ".join(f"'{w}'" for w in words)
    script = (
        f"source '{ROOT / BASH}'\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
        "_claw\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", script], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    assert [w for w in proc.stdout.splitlines() if w] == expected


def test_readme_error_table_matches_the_codes() -> None:
    """The README's gateway error table is the CODES table, row for row."""
    from claw.gateway.rpc_errors import CODES

    readme = (ROOT / "README.md").read_text()
    for code, info in CODES.items():
        assert f"| {code} | {info.name} | {info.meaning} | {info.action} |" in readme, code
