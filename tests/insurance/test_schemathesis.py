"""Schemathesis over the whole schema, as an insurance office and as a clinic's HIS: no 5xx, no answer
the schema does not describe (body, status code, content type).

Bounded in time: a fixed seed, a few examples per operation and a time budget per token (the whole
test stays under three minutes), against a real server process on 127.0.0.1 holding a little of
everything (claims adjudicated and submitted, a settlement file, a reconciliation run).
"""

import io
import json
import subprocess
import sys
import urllib.request

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from consortium.models import ApiClient, ApiClientKind
from consortium.permissions import SYSTEM
from insurance import services
from tests.live_server import web_server  # noqa: F401  (fixture)

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
SECONDS_PER_TOKEN = 75


@pytest.fixture
def his_token(chain):
    client = ApiClient(name="鸣凤镇卫生院HIS", kind=ApiClientKind.MEMBER_SYSTEM, institution=chain["township"])
    token = client.issue_token()
    client.save()
    return token


@pytest.fixture
def some_of_everything(chain, adjudicated, visit, office_token):
    for _ in range(2):
        services.create_claim(encounter=visit(), actor=SYSTEM)
    services.submit_claims(institution=chain["township"], period="2026-04", actor=SYSTEM)
    lines = "claim_number,institution_code,paid_amount,payment_status\n" + "".join(
        f"{claim.number},TOWN,340.00,paid\n" for claim in adjudicated[:5]
    )
    settlement = services.store_settlement_file(
        office=chain["office"],
        period="2026-03",
        upload=SimpleUploadedFile("s.csv", lines.encode()),
        file_name="s.csv",
        encoding="utf-8",
        actor=SYSTEM,
    )
    services.run_reconciliation(settlement_file=settlement, institution=chain["township"], actor=SYSTEM)


def _schemathesis(schema_path, base_url: str, token: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            str(schema_path),
            "--url",
            base_url,
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "4",
            "--max-time",
            str(SECONDS_PER_TOKEN),
            "--seed",
            "20261202",
            "--no-shrink",
            # One worker: concurrent workers made hypothesis's ast.parse of a filter lambda trip a
            # CPython 3.11 "AST constructor recursion depth mismatch" inside schemathesis (no API failure).
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--warnings",
            "off",
        ],
        capture_output=True,
        text=True,
        cwd=cwd,  # its .schemathesis/ cache stays out of the work tree
        timeout=SECONDS_PER_TOKEN + 60,
    )


@pytest.mark.usefixtures("some_of_everything")
def test_no_5xx_and_no_schema_violation_for_an_insurer_and_a_his(web_server, office_token, his_token, tmp_path):  # noqa: F811
    with urllib.request.urlopen(f"{web_server.url}/api/schema/?format=json", timeout=60) as response:
        schema = json.load(io.TextIOWrapper(response, encoding="utf-8"))
    schema_path = tmp_path / "schema.json"
    schema_path.write_text(json.dumps(schema))
    for who, token in (("insurer", office_token[1]), ("his", his_token)):
        result = _schemathesis(schema_path, web_server.url, token, tmp_path)
        summary = result.stdout[-6000:] + result.stderr[-2000:]
        assert result.returncode == 0, f"{who}:\n{summary}"
        assert " passed" in result.stdout, summary
    assert "Traceback" not in web_server.log()
