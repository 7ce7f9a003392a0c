"""The pages of a run and of a publish show each publisher, against the Perculus emulator."""

from __future__ import annotations

from test_publish_perculus import (  # noqa: F401 - fixtures: a Perculus emulator on 127.0.0.1
    credentials,
    data,
    perculus_emulator,
    session_row,
    setup,
)


def test_run_and_publish_pages_show_each_publisher(setup):  # noqa: F811
    ws, emulator, write_config = setup
    night = ws.write("night.csv", data(*(session_row(n) for n in range(3))))
    page = ws.root / "run.html"
    down = write_config(url="http://127.0.0.1:9")  # nothing listens on the discard port
    assert ws.run("run", "--html", page, "--publish-timeout", "20", down, night).exit_code == 6
    text = page.read_text()
    assert 'data-exit-code="6"' in text and '<td data-state="pending">3</td>' in text
    published = ws.root / "publish.html"
    result = ws.run("publish", "--html", published, write_config())
    assert result.exit_code == 0, result.stderr
    text = published.read_text()
    assert "session-import publish" in text and "delivery of an earlier run" in text
    assert (
        '<tr data-publisher="perculus"><td>perculus</td><td data-state="published">3</td>' in text
    )
