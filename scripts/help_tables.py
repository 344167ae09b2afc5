#!/usr/bin/env python3
"""The README's option tables, made from the commands' own --help, so the two
never drift (tests/integration/test_cli_help.py checks them).

    python3 scripts/help_tables.py [--tweedle build/tweedle] --check README.md
    python3 scripts/help_tables.py [--tweedle build/tweedle] --write README.md

Each table sits between <!-- help:COMMAND --> and <!-- /help:COMMAND --> in the
README; COMMAND is `serve` or `worker`."""
import argparse
import re
import subprocess
import sys

OPTION = re.compile(r"^  (--[a-z0-9-]+)((?: [^ ].*?)?)(?:  +(.*))?$")


def parse_help(text):
    """[(group, flag, argument, description)] in the order of the help."""
    rows, group, cur = [], "", None
    for line in text.splitlines():
        m = OPTION.match(line)
        if m:
            cur = [group, m.group(1), (m.group(2) or "").strip(), (m.group(3) or "").strip()]
            rows.append(cur)
        elif cur and line.startswith("    ") and line.strip():
            cur[3] = (cur[3] + " " + line.strip()).strip()
        else:
            cur = None
            if line.endswith(":") and not line.startswith(" ") and not line.startswith("usage"):
                group = line[:-1]
    return rows


def split_description(desc):
    """(what, environment, default) from 'what (ENV; default X)' or 'what (default X)'."""
    m = re.search(r"\((\$?[A-Z][A-Z0-9_]+(?:=1)?)?(?:; |, )?(?:default:? ?)?([^()]*(?:\([^()]*\)[^()]*)*)\)\s*$",
                  desc)
    if not m or not (m.group(1) or "default" in desc[m.start():]):
        return desc, "", ""
    env = (m.group(1) or "").lstrip("$")
    default = m.group(2).strip()
    return desc[:m.start()].strip(), env, default


def cell(s):
    return s.replace("|", "\\|")


def table(rows, with_env):
    out = []
    if with_env:
        out.append("| flag | environment | default | what |")
        out.append("|---|---|---|---|")
    else:
        out.append("| flag | default | what |")
        out.append("|---|---|---|")
    group = None
    for g, flag, arg, desc in rows:
        if g and g != group and with_env:
            out.append("| **%s** | | | |" % cell(g))
        group = g
        what, env, default = split_description(desc)
        f = "`%s%s`" % (flag, " " + arg if arg else "")
        if with_env:
            out.append("| %s | %s | %s | %s |" % (cell(f), "`%s`" % env if env else "",
                                                cell(default), cell(what)))
        else:
            out.append("| %s | %s | %s |" % (cell(f), cell(default), cell(what)))
    return "\n".join(out)


def tables(binary):
    out = {}
    for cmd, with_env in (("serve", True), ("worker", False)):
        text = subprocess.run([binary, cmd, "--help"], capture_output=True, text=True, check=True).stdout
        out[cmd] = table(parse_help(text), with_env)
    return out


def blocks(readme):
    return {m.group(1): m for m in re.finditer(r"<!-- help:(\w+) -->\n(.*?)<!-- /help:\1 -->", readme, re.S)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tweedle", default="build/tweedle")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check")
    mode.add_argument("--write")
    a = ap.parse_args()
    path = a.check or a.write
    with open(path) as f:
        readme = f.read()
    want = tables(a.tweedle)
    found = blocks(readme)
    bad = [cmd for cmd in want if cmd not in found or found[cmd].group(2) != want[cmd] + "\n"]
    if a.check:
        for cmd in bad:
            print("%s: the table of `tweedle %s --help` is %s; run: python3 scripts/help_tables.py --write %s"
                  % (path, cmd, "missing" if cmd not in found else "out of date", path))
        return 1 if bad else 0
    for cmd in want:
        if cmd not in found:
            print("%s: no <!-- help:%s --> block to write into" % (path, cmd), file=sys.stderr)
            return 1
        readme = readme.replace(found[cmd].group(0), "<!-- help:%s -->\n%s\n<!-- /help:%s -->" % (cmd, want[cmd], cmd))
    with open(path, "w") as f:
        f.write(readme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
