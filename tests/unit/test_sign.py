"""`leadml features sign`: sign-offs for the current spec_version written into the spec file,
its comments and layout kept; features still TODO refused by name."""

from __future__ import annotations

import importlib
from datetime import date

import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.errors import SpecError
from leadml.spec import load_spec
from leadml.spec.signing import sign

runner = CliRunner()
cli_app = importlib.import_module("leadml.cli.app")  # the module (`leadml.cli.app` is the app)


def leadml(*args: str):
    """Run leadml; (exit code, everything it printed)."""
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


SPEC_TEXT = """\
# Our leads: reviewed by both teams.
spec_version: 3
lead_id: id
timestamp: null
label:
  column: converted
  positive: ["yes"]
  negative: ["no"]
features:
  # --- from the form
  - name: source        # where the lead came from
    column: "Lead Source"
    kind: categorical
    description: "Where the lead came from."
    owner: marketing
    known_at: capture
    allowed: [web, event]
    missing: "Never missing."
    review:
      sales: {by: Old Signer, when: 2025-01-01, version: 2}   # an old version

  - name: visits
    kind: numeric
    description: "Visits to our site before the lead filled in the form."
    owner: marketing
    known_at: engagement
    missing: "No visits recorded."
    review: {}
  # --- from the CRM
  - name: employees
    kind: numeric
    description: "Employees of the lead's company."
    owner: sales
    known_at: enrichment
    missing: "Not enriched."
    review:
      marketing:
        by: Ann Lee
        when: 2025-02-02
        version: 3
  - name: do_not_call
    kind: boolean
    description: "TODO: what this means"
    owner: TODO
    known_at: capture
    missing: "TODO: what a missing value means"
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "features.yaml"
    path.write_text(SPEC_TEXT)
    return path


def test_sign_all_ready_features_keeps_comments_and_sets_the_version(spec_file):
    code, out = leadml("features", "sign", spec_file, "--team", "sales", "--by", "Rui Fernandes",
                       "--features", "source,visits,employees")  # fmt: skip
    assert code == 0, out
    today = date.today()
    assert f"Signed 3 feature(s) in {spec_file} for sales by Rui Fernandes on {today}" in out
    assert "spec version 3: source, visits, employees" in out
    text = spec_file.read_text()
    for comment in ("# Our leads", "# --- from the form", "# where the lead came from",
                    "# --- from the CRM"):  # fmt: skip
        assert comment in text
    assert "Old Signer" not in text  # the old version's sign-off is replaced, not kept beside
    spec = load_spec(spec_file)
    for name in ("source", "visits", "employees"):
        signed = spec.feature(name).review["sales"]
        assert (signed.by, signed.when, signed.version) == ("Rui Fernandes", today, 3)
    assert spec.feature("employees").review["marketing"].by == "Ann Lee"  # left as it was
    assert "do_not_call" not in spec.signoffs() or not spec.feature("do_not_call").review
    problems = spec.training_problems()
    assert "source: no sign-off from sales" not in problems
    assert "visits: no sign-off from marketing" in problems
    assert "employees: no sign-off from marketing" not in problems


def test_a_feature_still_todo_is_refused_by_name_and_nothing_is_written(spec_file):
    code, out = leadml("features", "sign", spec_file, "--team", "marketing", "--by", "Ann", "--all")
    assert code == 2
    assert "do_not_call (description, owner, missing)" in out
    assert "nothing signed" in out
    assert spec_file.read_text() == SPEC_TEXT


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--team", "sales", "--by", "A"], "--features a,b, or sign them all with --all"),
        (["--team", "sales", "--by", "A", "--all", "--features", "visits"], "--all"),
        (["--team", "sales", "--by", "A", "--features", "vists"], "no feature named vists"),
        (["--team", "finance", "--by", "A", "--all"], "finance"),
    ],
)
def test_bad_sign_requests_are_refused(spec_file, args, message):
    code, out = leadml("features", "sign", spec_file, *args)
    assert code == 2
    assert message in out
    assert spec_file.read_text() == SPEC_TEXT


def test_line_ends_and_a_name_that_needs_quotes_survive(tmp_path):
    path = tmp_path / "features.yaml"
    path.write_bytes(SPEC_TEXT.replace("\n", "\r\n").encode())
    signed = sign(path, "marketing", "O'Brien: ops #2", ["visits"], date(2026, 1, 2))
    assert signed.kept_layout
    assert "\r\n" in signed.text and "\n" not in signed.text.replace("\r\n", "")
    path.write_bytes(signed.text.encode())
    review = load_spec(path).feature("visits").review["marketing"]
    assert (review.by, review.when, review.version) == ("O'Brien: ops #2", date(2026, 1, 2), 3)


def test_signing_twice_for_a_new_version_replaces_the_entry(spec_file):
    first = sign(spec_file, "marketing", "Ann Lee", ["source"], date(2026, 1, 2))
    spec_file.write_text(first.text.replace("spec_version: 3", "spec_version: 4"))
    second = sign(spec_file, "marketing", "Ann Lee", ["source"], date(2026, 2, 3))
    spec_file.write_text(second.text)
    assert second.text.count("marketing: {by: Ann Lee") == 1
    review = load_spec(spec_file).feature("source").review["marketing"]
    assert (review.when, review.version) == (date(2026, 2, 3), 4)


def test_a_spec_whose_lines_cannot_be_edited_is_rewritten_from_its_data(tmp_path):
    path = tmp_path / "features.yaml"  # `name` is not the first key of its entry
    path.write_text(
        SPEC_TEXT.replace(
            "  - name: visits\n    kind: numeric", "  - kind: numeric\n    name: visits"
        )
    )
    signed = sign(path, "sales", "Rui", ["visits"], date(2026, 1, 2))
    assert not signed.kept_layout
    path.write_text(signed.text)
    assert load_spec(path).feature("visits").review["sales"].by == "Rui"


def test_unknown_and_todo_features_raise(spec_file):
    with pytest.raises(SpecError, match="do_not_call"):
        sign(spec_file, "sales", "Rui", ["do_not_call"], date(2026, 1, 2))
