#!/usr/bin/env python3
"""Run tweedle's integration tests with stdlib unittest.

    python3 tests/integration/run.py [-k PATTERN]... [-q] [-x] [-j N]
    /usr/bin/python3 tests/integration/run.py        # Debian boto3 -> SQS query protocol

Discovers test_*.py beside this file, prints one line per test, and ends
with exactly one line ``SUMMARY passed=N failed=M skipped=K``.  Exit status
is 1 when any test failed or errored.  ``-k`` keeps tests whose id
(module.Class.test) contains PATTERN, or matches it as a glob; repeatable.
The binary comes from $TWEEDLE_BIN (default <repo>/build/tweedle).
``-j N`` runs N test modules at once, each in its own process with its own
servers; a module's output is printed whole when it ends.
"""

import argparse
import re
import subprocess
import tempfile
import fnmatch
import os
import sys
import time
import traceback
import unittest

sys.dont_write_bytecode = True  # keep __pycache__ out of the work tree

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


def filter_suite(suite, patterns):
    if not patterns:
        return suite
    keep = unittest.TestSuite()
    for t in iter_tests(suite):
        tid = t.id()
        for p in patterns:
            if p in tid or fnmatch.fnmatchcase(tid, p) or fnmatch.fnmatchcase(tid, "*" + p + "*"):
                keep.addTest(t)
                break
    return keep


class Result(unittest.TestResult):
    """Prints PASS/FAIL/ERROR/SKIP per test; counts tests (not subtests)."""

    def __init__(self, stream):
        super().__init__()
        self.out = stream
        self.passed = 0
        self.failed_ids = []
        self.skipped_n = 0
        self.details = []
        self._t0 = {}
        self._sub_failed = set()

    def _line(self, s):
        self.out.write(s + "\n")
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        self._t0[test.id()] = time.monotonic()

    def _took(self, test):
        return time.monotonic() - self._t0.get(test.id(), time.monotonic())

    def addSuccess(self, test):
        super().addSuccess(test)
        if test.id() in self._sub_failed:
            return  # reported at stopTest
        self.passed += 1
        self._line("PASS  %s (%.2fs)" % (test.id(), self._took(test)))

    def _fail(self, test, err, kind):
        tid = test.id() if hasattr(test, "id") else str(test)
        text = self._exc_info_to_string(err, test) if isinstance(test, unittest.TestCase) \
            else "".join(traceback.format_exception(*err))
        self.details.append((kind, tid, text))
        if tid not in self.failed_ids:
            self.failed_ids.append(tid)
        took = self._took(test) if isinstance(test, unittest.TestCase) else 0.0
        self._line("%-5s %s (%.2fs)" % (kind, tid, took))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err, "ERROR")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "FAIL" if issubclass(err[0], test.failureException) else "ERROR"
            text = self._exc_info_to_string(err, test)
            self.details.append((kind, subtest.id(), text))
            self._line("%-5s %s" % (kind, subtest.id()))
            self._sub_failed.add(test.id())
            if test.id() not in self.failed_ids:
                self.failed_ids.append(test.id())

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.skipped_n += 1
        tid = test.id() if hasattr(test, "id") else str(test)
        self._line("SKIP  %s: %s" % (tid, reason))

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line("XFAIL %s" % test.id())

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.failed_ids.append(test.id())
        self._line("XPASS %s (unexpected success)" % test.id())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", dest="patterns", action="append", default=[], help="filter tests by substring/glob")
    ap.add_argument("-x", "--failfast", action="store_true", help="stop at the first failure")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not print failure tracebacks")
    ap.add_argument("--list", action="store_true", help="list the selected tests and exit")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="test modules run at once (processes)")
    ap.add_argument("--module", help=argparse.SUPPRESS)  # one module only (used by -j)
    args = ap.parse_args(argv)

    out = sys.stdout
    loader = unittest.TestLoader()
    suite = loader.discover(start_dir=HERE, pattern="test_*.py", top_level_dir=HERE)
    suite = filter_suite(suite, args.patterns)
    if args.module:
        only = unittest.TestSuite()
        for t in iter_tests(suite):
            if t.id().startswith(args.module + ".") or t.id() == args.module:
                only.addTest(t)
        suite = only
    tests = list(iter_tests(suite))
    if args.jobs > 1 and not args.list:
        return run_parallel(args, tests, out)

    if args.list:
        for t in tests:
            out.write(t.id() + "\n")
        out.write("SUMMARY passed=0 failed=0 skipped=0\n")
        return 0

    try:
        import boto3
        import botocore
        import harness
        proto = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1") \
            .client("sqs", endpoint_url="http://127.0.0.1:1").meta.service_model.protocol
        out.write("# python %s, boto3 %s, botocore %s -> SQS %s protocol; binary %s\n"
                  % (sys.version.split()[0], boto3.__version__, botocore.__version__, proto, harness.BIN))
    except Exception as e:  # noqa: BLE001
        out.write("# environment probe failed: %r\n" % (e,))
    out.write("# %d tests selected\n" % len(tests))
    out.flush()

    result = Result(out)
    result.failfast = args.failfast
    t0 = time.monotonic()
    # Loader errors (e.g. a module that fails to import) surface as tests that error.
    suite.run(result)
    # Module/class fixture errors are reported through addError on _ErrorHolder objects.
    elapsed = time.monotonic() - t0

    if result.details and not args.quiet:
        out.write("\n" + "=" * 70 + "\nFAILURES\n" + "=" * 70 + "\n")
        for kind, tid, text in result.details:
            out.write("-" * 70 + "\n%s: %s\n%s\n" % (kind, tid, text))
    failed = len(result.failed_ids)
    out.write("\n# %d tests in %.1fs\n" % (result.testsRun, elapsed))
    sys.stderr.flush()
    out.write("SUMMARY passed=%d failed=%d skipped=%d\n" % (result.passed, failed, result.skipped_n))
    out.flush()
    return 1 if failed else 0


def run_parallel(args, tests, out):
    """Each module in a child process (module fixtures stay per module), N at a time."""
    modules = []
    for t in tests:
        m = t.id().split(".")[0]
        if m not in modules:
            modules.append(m)
    out.write("# %d tests selected in %d modules, %d at a time\n" % (len(tests), len(modules), args.jobs))
    out.flush()
    base = [sys.executable, os.path.abspath(__file__)]
    for p in args.patterns:
        base += ["-k", p]
    if args.quiet:
        base.append("-q")
    pending = list(modules)
    running = []  # (module, Popen, start, log file)
    totals = [0, 0, 0]
    failed_modules = []
    t0 = time.monotonic()
    while pending or running:
        while pending and len(running) < args.jobs:
            m = pending.pop(0)
            log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty module never blocks
            proc = subprocess.Popen(base + ["--module", m], stdout=log, stderr=subprocess.STDOUT)
            running.append((m, proc, time.monotonic(), log))
        for item in list(running):
            m, proc, start, log = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.seek(0)
            text = log.read().decode("utf-8", "replace")
            log.close()
            summary = re.findall(r"^SUMMARY passed=(\d+) failed=(\d+) skipped=(\d+)$", text, re.M)
            body = "\n".join(line for line in text.splitlines() if not line.startswith("SUMMARY "))
            out.write("## %s (%.1fs)\n%s\n" % (m, time.monotonic() - start, body))
            if summary:
                p, f, k = (int(x) for x in summary[-1])
            else:
                p, f, k = 0, 1, 0
            if proc.returncode and not f:
                f = 1
            totals[0] += p
            totals[1] += f
            totals[2] += k
            if f:
                failed_modules.append(m)
            out.flush()
        if running:
            time.sleep(0.05)
    out.write("\n# %d modules in %.1fs%s\n" % (len(modules), time.monotonic() - t0,
                                              "; failed: " + ", ".join(failed_modules) if failed_modules else ""))
    out.write("SUMMARY passed=%d failed=%d skipped=%d\n" % tuple(totals))
    out.flush()
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
