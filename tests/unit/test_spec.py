"""Feature spec validation: each bad input gets its own clear message."""

from __future__ import annotations

import copy

import pytest
import yaml

from leadml.errors import SpecError
from leadml.review import diff_files
from leadml.spec import load_spec, norm_value

from ..conftest import SPEC


@pytest.fixture(scope="module")
def raw_spec():
    return yaml.safe_load(SPEC.read_text())


def write(tmp_path, raw, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_shipped_spec_loads_and_is_fully_reviewed():
    spec = load_spec(SPEC)
    assert len(spec.features) >= 16
    assert spec.training_problems() == []
    assert len(spec.content_hash) == 16


def test_hash_ignores_layout_but_not_meaning(tmp_path, raw_spec):
    same = write(tmp_path, raw_spec, "same.yaml")  # re-dumped: other layout, no comments
    assert load_spec(same).content_hash == load_spec(SPEC).content_hash
    changed = copy.deepcopy(raw_spec)
    changed["features"][0]["description"] += " Changed."
    assert load_spec(write(tmp_path, changed)).content_hash != load_spec(SPEC).content_hash


def _mutate(raw, fn):
    raw = copy.deepcopy(raw)
    fn(raw)
    return raw


BAD_SPECS = {
    "categorical without allowed": (
        lambda r: r["features"][0].pop("allowed"),
        "categorical feature needs its 'allowed' values",
    ),
    "direction on categorical": (
        lambda r: r["features"][0].update(direction="increasing"),
        "'direction' applies to numeric and boolean",
    ),
    "unknown kind": (lambda r: r["features"][0].update(kind="text"), "features.0.kind"),
    "unknown known_at": (
        lambda r: r["features"][0].update(known_at="someday"),
        "features.0.known_at",
    ),
    "range reversed": (
        lambda r: r["features"][9].update(range=[10, 1]),
        "lower bound 10.0 is above upper bound 1.0",
    ),
    "duplicate feature": (
        lambda r: r["features"].append(copy.deepcopy(r["features"][0])),
        "feature name 'lead_source' is defined twice",
    ),
    "extra key": (lambda r: r["features"][0].update(colour="red"), "features.0.colour"),
    "missing description": (
        lambda r: r["features"][1].pop("description"),
        "features.1.description",
    ),
    "label values overlap": (
        lambda r: r["label"].update(negative=[1]),
        "listed in more than one of positive/negative/open",
    ),
    "feature reads the label": (
        lambda r: r["features"][0].update(column="sales_ready"),
        "reads 'sales_ready', the id/label/timestamp",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_rejected_with_its_reason(tmp_path, raw_spec, case):
    mutate, message = BAD_SPECS[case]
    path = write(tmp_path, _mutate(raw_spec, mutate))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")


def test_training_problems_name_each_offender(tmp_path, raw_spec):
    def mutate(r):
        r["features"][0]["review"].pop("marketing")
        r["features"][1]["known_at"] = "after_contact"
        r["features"][2]["review"]["sales"]["version"] = 0

    spec = load_spec(write(tmp_path, _mutate(raw_spec, mutate)))
    problems = spec.training_problems()
    assert problems == [
        "lead_source: no sign-off from marketing",
        "campaign_channel: known only after sales contact (known_at: after_contact); "
        "it would leak the outcome",
        "capture_form: sales signed spec version 0, not the current version 1",
    ]


def test_diff_shows_added_removed_changed_and_version_reminder(tmp_path, raw_spec):
    def mutate(r):
        r["features"].pop(0)
        r["features"][0]["owner"] = "sales"
        new = copy.deepcopy(r["features"][-1])
        new["name"] = "new_signal"
        r["features"].append(new)

    old = write(tmp_path, raw_spec, "old.yaml")
    new = write(tmp_path, _mutate(raw_spec, mutate), "new.yaml")
    lines = diff_files(old, new)
    assert "+ feature added: new_signal" in lines
    assert "- feature removed: lead_source" in lines
    assert "~ feature campaign_channel: owner: 'marketing' -> 'sales'" in lines
    assert any("bump it so both teams sign again" in line for line in lines)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, "1"), (1.0, "1"), (True, "1"), ("yes", "1"), ("0", "0"), (False, "0"), ("US", "US")],
)
def test_norm_value(value, expected):
    assert norm_value(value) == expected
