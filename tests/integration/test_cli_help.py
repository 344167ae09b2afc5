"""`tweedle serve --help` and `tweedle worker --help` list every flag the
commands accept (read from the option tables in the source), each serve flag
names its environment variable and default, and the README's option tables
are the ones scripts/help_tables.py makes from that help."""
import os
import re
import subprocess
import sys
import unittest

import harness as h

sys.path.insert(0, os.path.join(h.REPO, "scripts"))
import help_tables  # noqa: E402


def source(path):
    with open(os.path.join(h.REPO, path)) as f:
        return f.read()


class HelpTest(unittest.TestCase):
    def help(self, cmd):
        r = subprocess.run([h.binary(), cmd, "--help"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_serve_help_lists_every_flag_with_env_and_default(self):
        src = source("src/main.c")
        body = src[src.index("static int cmd_serve"):]
        body = body[body.index("opts[] = {"):body.index("};", body.index("opts[] = {"))]
        accepted = set(re.findall(r'\{"([a-z0-9-]+)", (?:required|no)_argument', body)) - {"help"}
        rows = help_tables.parse_help(self.help("serve"))
        listed = {flag[2:] for _, flag, _, _ in rows}
        self.assertEqual(accepted - listed, set(), "flags serve accepts but --help does not list")
        self.assertEqual(listed - accepted, set(), "flags --help lists that serve does not accept")
        for group, flag, arg, desc in rows:
            what, env, default = help_tables.split_description(desc)
            with self.subTest(flag=flag):
                self.assertTrue(group, "every flag sits in a group")
                self.assertRegex(env, r"^TWEEDLE_[A-Z_]+(=1)?$")
                self.assertTrue(default, "no default named")
                self.assertTrue(what)

    def test_worker_help_lists_every_flag(self):
        src = source("src/worker/cli.c")
        accepted = set()
        for name in ("flags_without_value", "flags_with_value"):
            block = src[src.index(name + "[] = {"):]
            block = block[:block.index("};")]
            accepted |= set(re.findall(r'"([a-z0-9-]+)"', block))
        accepted |= {"keep-payloads"}  # the payload hooks' own option (src/worker/payload.c)
        accepted -= {"help"}
        listed = {flag[2:] for _, flag, _, _ in help_tables.parse_help(self.help("worker"))}
        self.assertEqual(accepted - listed, set(), "flags worker accepts but --help does not list")
        self.assertEqual(listed - accepted, set(), "flags --help lists that worker does not accept")

    def test_readme_tables_match_the_help(self):
        r = subprocess.run([sys.executable, os.path.join(h.REPO, "scripts", "help_tables.py"),
                            "--tweedle", h.binary(), "--check", os.path.join(h.REPO, "README.md")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
