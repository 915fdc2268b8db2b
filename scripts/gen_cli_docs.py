"""Write docs/cli.md from the real ``ytqa --help`` output of every command.

    python scripts/gen_cli_docs.py           # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check   # exit 1 if docs/cli.md is stale (CI)
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

from ytqa.cli import EXIT_CODES, cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"

HEADER = """# The `ytqa` command

Generated from the real `--help` output by `python scripts/gen_cli_docs.py`;
CI fails when this page is stale. Options with an environment fallback show its
name as `env var:` in their help.
"""


def help_text(args: list[str]) -> str:
    # A fixed terminal width keeps the page the same on every machine.
    result = CliRunner().invoke(cli, [*args, "--help"], prog_name="ytqa", terminal_width=100)
    if result.exit_code != 0:
        raise SystemExit(f"ytqa {' '.join(args)} --help failed:\n{result.output}")
    return result.output.rstrip() + "\n"


def render() -> str:
    parts = [HEADER, "## ytqa\n", "```text\n" + help_text([]) + "```\n"]
    for name in sorted(cli.list_commands(None)):  # type: ignore[arg-type]
        parts += [f"## ytqa {name}\n", "```text\n" + help_text([name]) + "```\n"]
    parts.append("## Exit statuses\n")
    # One part: a blank line between rows would end the Markdown table.
    rows = [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES.items()]
    parts.append("\n".join(["| status | meaning |", "|---|---|", *rows]) + "\n")
    return "\n".join(part.rstrip("\n") + "\n" for part in parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not DOC.is_file() or DOC.read_text(encoding="utf-8") != text:
            print("docs/cli.md is stale: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
