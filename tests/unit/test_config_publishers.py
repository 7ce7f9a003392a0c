"""<publishers> in a configuration: what `check` accepts, and each error with FILE:LINE."""

from __future__ import annotations

import pytest
from conftest import Workspace

ACTION = """<actions><createOrUpdateSessionAction>
  <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
  <fields><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/></fields>
</createOrUpdateSessionAction></actions>"""


def config(publishers: str) -> str:
    return f'<import-config><import id="n">\n{ACTION}\n<publishers>\n{publishers}\n</publishers></import></import-config>\n'


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    for name in (
        "PERCULUS_ACCESS_KEY",
        "PERCULUS_SECRET_KEY",
        "PERCULUS_ACCOUNT_ID",
        "ZOHO_CLIENT_ID",
        "ZOHO_CLIENT_SECRET",
        "ZOHO_REFRESH_TOKEN",
    ):
        monkeypatch.setenv(name, "x")


def test_both_publishers_with_every_option_are_accepted(ws: Workspace):
    path = ws.write(
        "c.xml",
        config(
            "<perculusPublisher><baseUrl>https://p.example.com</baseUrl><batchSize>100</batchSize>"
            "<timezone>Europe/Istanbul</timezone><defaultDuration>60</defaultDuration><timeout>10</timeout>"
            "</perculusPublisher>\n"
            "<zohoPeoplePublisher><baseUrl>https://people.zoho.com</baseUrl>"
            "<accountsUrl>https://accounts.zoho.com</accountsUrl><courseId>1</courseId><batchId>2</batchId>"
            '<moduleId>3</moduleId><training pathCode="TP-001" courseId="4" batchId="5" moduleId="6"/>'
            "<maxRequests>30</maxRequests><windowSeconds>60</windowSeconds><lockSeconds>300</lockSeconds>"
            "</zohoPeoplePublisher>"
        ),
    )
    result = ws.run("check", path)
    assert result.exit_code == 0, result.stderr
    assert "Perculus at https://p.example.com" in result.stdout
    assert (
        "Zoho People at https://people.zoho.com (at most 30 calls in 60 s, 1 training(s)"
        in result.stdout
    )


@pytest.mark.parametrize(
    ("publishers", "message"),
    [
        (
            "<perculusPublisher><baseUrl>ftp://x</baseUrl></perculusPublisher>",
            ":7: <baseUrl> is 'ftp://x'; write an http:// or https:// address such as https://example.com.",
        ),
        (
            "<perculusPublisher><baseUrl>https://x</baseUrl><batchSize>0</batchSize></perculusPublisher>",
            ":7: <batchSize> is '0'; write a whole number from 1 to 1000.",
        ),
        (
            "<perculusPublisher><baseUrl>https://x</baseUrl><defaultDuration>400</defaultDuration></perculusPublisher>",
            ":7: <defaultDuration> is '400'; write a whole number from 5 to 360.",
        ),
        (
            "<perculusPublisher><baseUrl>https://x</baseUrl><timezone>Europe/Pariss</timezone></perculusPublisher>",
            ":7: <timezone> is 'Europe/Pariss', not a known time zone; write an IANA name such as Europe/Istanbul.",
        ),
        (
            "<perculusPublisher><baseUrl>https://x</baseUrl><batchsize>5</batchsize></perculusPublisher>",
            ":7: unknown option <batchsize> in <perculusPublisher>; did you mean <batchSize>?",
        ),
        ("<perculusPublisher/>", ":7: <perculusPublisher> needs <baseUrl>; add it."),
        (
            "<zohoPeoplePublisher><baseUrl>https://x</baseUrl><accountsUrl>https://y</accountsUrl>"
            "</zohoPeoplePublisher>",
            ":7: <zohoPeoplePublisher> needs <courseId>, <batchId> and <moduleId>, or a <training> element "
            "for each training it publishes; it has neither.",
        ),
        (
            "<zohoPeoplePublisher><baseUrl>https://x</baseUrl><accountsUrl>https://y</accountsUrl>"
            '<training pathCode="TP-1" courseId="1"/></zohoPeoplePublisher>',
            ":7: <training> needs pathCode=, courseId=, batchId= and moduleId=; it lacks batchId=, moduleId=.",
        ),
        (
            "<zohoPeoplePublisher><baseUrl>https://x</baseUrl><accountsUrl>https://y</accountsUrl><courseId>1"
            "</courseId><batchId>2</batchId><moduleId>3</moduleId><windowSeconds>0</windowSeconds>"
            "</zohoPeoplePublisher>",
            ":7: <windowSeconds> is '0'; write a number of seconds greater than 0.",
        ),
        (
            "<smtpPublisher/>",
            ":7: unknown publisher <smtpPublisher> in <publishers>; did you mean <perculusPublisher>?",
        ),
        (
            "",
            ":6: <publishers> names no publisher; add <perculusPublisher> or <zohoPeoplePublisher>, or remove it.",
        ),
    ],
)
def test_a_publisher_error_names_the_line_and_the_fix(ws: Workspace, publishers: str, message: str):
    path = ws.write("c.xml", config(publishers))
    result = ws.run("check", path)
    assert result.exit_code == 4
    assert f"{path}{message}" in result.stderr.splitlines()
