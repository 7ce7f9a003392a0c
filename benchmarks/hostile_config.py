"""Time and peak memory of `session-import check` on large and hostile configurations.

Generates each configuration under benchmarks/data/config/, runs `session-import check` on
it in its own process (under /usr/bin/time for the peak RSS), and prints: the case, the
file's size, the exit code, the number of lines printed on stderr, seconds, peak RSS.

    .venv/bin/python benchmarks/hostile_config.py [--sizes 8] [--cases realistic,elements]

The realistic cases are the largest configurations an administrator would write (every
option, both publishers, thousands of Zoho <training> mappings); the hostile ones are
what a review tried: millions of elements, one misspelt option repeated, distinct unknown
names (no cache can help), a valid configuration padded to the size limit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "config"
CLI = Path(sys.executable).with_name("session-import")
# dummy credentials, so that `check` of the realistic cases gets past its credential check
CREDENTIALS = (
    "PERCULUS_ACCESS_KEY",
    "PERCULUS_SECRET_KEY",
    "PERCULUS_ACCOUNT_ID",
    "ZOHO_CLIENT_ID",
    "ZOHO_CLIENT_SECRET",
    "ZOHO_REFRESH_TOKEN",
)

SESSION_FIELDS = (
    "<sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/><sessionStatus/>"
    "<sessionStartDate/><sessionEndDate/><sessionGuid/><groupName/>"
)


def realistic(trainings: int) -> str:
    """A full configuration as a large organisation would write it."""
    mappings = "\n".join(
        f'      <training pathCode="TP-{i:05d}-CLASSROOM" courseId="{400000000000000000 + i}" '
        f'batchId="{500000000000000000 + i}" moduleId="{600000000000000000 + i}"/>'
        for i in range(trainings)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<import-config>
  <import id="nightly-sessions">
    <providers><fileSystemSourceProvider>
      <fileName>sessions_*.csv</fileName><path>drop</path><skipFirstLine>yes</skipFirstLine>
      <fileEncoding>UTF-8</fileEncoding><delimiter>semicolon</delimiter>
      <timezone>Europe/Paris</timezone><dateFormat>DD/MM/YYYY HH:II</dateFormat>
    </fileSystemSourceProvider></providers>
    <actions><createOrUpdateSessionAction>
      <options><sessionSearchField><sessionGuid/><sessionTitle/></sessionSearchField>
        <fullAccess>no</fullAccess></options>
      <fields>{SESSION_FIELDS}</fields>
    </createOrUpdateSessionAction></actions>
    <consolidators>
      <timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>
      <moveToBackupConsolidator><backupFolder>backup</backupFolder><timestamp>yes</timestamp></moveToBackupConsolidator>
      <emailReport><targetEmail>planning@example.org</targetEmail></emailReport>
    </consolidators>
    <safety><maxRejects>5%</maxRejects><maxCancel>10</maxCancel></safety>
    <publishers>
      <perculusPublisher><baseUrl>https://example.perculus.com</baseUrl></perculusPublisher>
      <zohoPeoplePublisher>
      <baseUrl>https://people.zoho.com</baseUrl><accountsUrl>https://accounts.zoho.com</accountsUrl>
{mappings}
      </zohoPeoplePublisher>
    </publishers>
  </import>
</import-config>
"""


def session_action(fields: str = SESSION_FIELDS, options: str = "") -> str:
    return (
        "<actions><createOrUpdateSessionAction>\n<options><sessionSearchField><sessionTitle/>"
        f"</sessionSearchField>{options}</options>\n<fields>{fields}</fields>\n"
        "</createOrUpdateSessionAction></actions>\n"
    )


def padded(target: int, unit: str, build) -> str:
    """``build(repeated)`` with ``unit`` repeated so that the document is about ``target`` bytes."""
    base = len(build("").encode())
    return build(unit * max(0, (target - base) // len(unit.encode())))


def cases(size: int) -> dict[str, str]:
    return {
        # one unknown element repeated: an error (and a did-you-mean) per element
        "elements": padded(size, "<x/>", lambda body: f"<actions>{body}</actions>\n"),
        # elements on separate lines, as the 50 MB / 10M elements case of the review
        "elements-lines": padded(size, "<x/>\n", lambda body: f"<actions>\n{body}</actions>\n"),
        # one misspelt option repeated: the 42 MB / 2M error lines case of the review
        "misspelt": padded(
            size, "<fullAcess>yes</fullAcess>\n", lambda body: session_action(options="\n" + body)
        ),
        # distinct unknown field names: every did-you-mean is computed afresh
        "distinct": session_action(
            fields=SESSION_FIELDS + "".join(f"<f{i}/>" for i in range(max(0, size - 400) // 9))
        ),
        # a valid configuration: nothing but <ignoredColumn/> after the fields
        "valid-padded": padded(
            size, "<ignoredColumn/>", lambda body: session_action(fields=SESSION_FIELDS + body)
        ),
        # attributes: many on one element, each unknown
        "attributes": "<actions "
        + " ".join(f'a{i}="1"' for i in range(max(0, size - 20) // 10))
        + "/>\n",
        # nesting as deep as libxml2 lets it be
        "deep": "<actions>" + "<x>" * 255 + "</x>" * 255 + "</actions>\n",
    }


def measure(path: Path) -> tuple[int, int, float, int]:
    """(exit code, stderr lines, seconds, peak RSS in KiB) of `session-import check PATH`."""
    env = dict(os.environ, **{name: "x" for name in CREDENTIALS})
    start = time.perf_counter()
    proc = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            str(CLI),
            "check",
            "--db",
            str(DATA / "unused.db"),
            str(path),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - start
    *lines, rss = proc.stderr.rstrip("\n").split("\n")
    lines = [line for line in lines if not line.startswith("Command exited with non-zero status")]
    return proc.returncode, len(lines), seconds, int(rss)


def at_node_limit() -> dict[str, str]:
    """The worst documents that pass both limits: just under the node limit, every node an error
    (or, for valid-at-limit, none)."""
    from session_import.config import MAX_CONFIG_NODES

    n = MAX_CONFIG_NODES - 20
    return {
        "distinct-at-node-limit": session_action(
            fields=SESSION_FIELDS + "".join(f"<f{i}/>" for i in range(n))
        ),
        "valid-at-node-limit": session_action(fields=SESSION_FIELDS + "<ignoredColumn/>" * n),
        "attributes-at-node-limit": "<actions " + " ".join(f'a{i}="1"' for i in range(n)) + "/>\n",
        "lines-at-node-limit": "<actions>\n" + "<x/>\n" * n + "</actions>\n",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,4,8", help="hostile sizes in MiB, comma-separated")
    parser.add_argument(
        "--trainings", default="500,10000,30000", help="Zoho mappings of the realistic cases"
    )
    parser.add_argument("--cases", default="", help="only these hostile cases (comma-separated)")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[str, str]] = [
        (f"realistic-{n}-trainings", realistic(n))
        for n in map(int, args.trainings.split(","))
        if n >= 0
    ]
    wanted = set(filter(None, args.cases.split(",")))
    runs += [(name, text) for name, text in at_node_limit().items() if not wanted or name in wanted]
    for mib in map(float, args.sizes.split(",")):
        for name, text in cases(int(mib * 1024 * 1024)).items():
            if not wanted or name in wanted:
                runs.append((f"{name}-{mib:g}MiB", text))
    print(
        f"{'case':32} {'bytes':>11} {'exit':>4} {'stderr lines':>12} {'seconds':>8} {'peak RSS':>9}"
    )
    for name, text in runs:
        path = DATA / f"{name}.xml"
        path.write_text(text, encoding="utf-8")
        code, lines, seconds, rss = measure(path)
        print(
            f"{name:32} {path.stat().st_size:>11,} {code:>4} {lines:>12,} {seconds:>8.2f}"
            f" {rss / 1024:>7.0f} MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
