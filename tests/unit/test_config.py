"""Training configs: bad keys named with the file, paths found beside the config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leadml.config import load_config
from leadml.errors import ConfigError

from ..conftest import ROOT


def write(tmp_path, raw):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_shipped_configs_load_and_find_their_files(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # not the project folder: paths resolve beside the config
    for name in ("demo.yaml", "bank_marketing.yaml", "bank_marketing_random.yaml"):
        config = load_config(ROOT / "training" / name)
        assert (ROOT / "features").samefile(Path(config.spec).parent)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"split": {"test_share": 0.7}}, "split.test_share"),
        ({"capacity": {"leads_per_week": None}}, "give capacity as leads_per_week or as share"),
        (
            {"bands": {"A": 0.1, "B": 0.25, "C": 0.05}},
            "band edges must be probabilities with A > B",
        ),
        ({"bands": {"B": 0.2, "C": 0.1}}, "bands must give the lower edges of A, B and C"),
        ({"model": {"calibration": "platt"}}, "model.calibration"),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, raw, message):
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_config_that_is_not_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("name: [oops")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_extends_merges_mappings_and_replaces_values(tmp_path):
    base = write(
        tmp_path,
        {"name": "base", "split": {"test_share": 0.3}, "bands": {"A": 0.6, "B": 0.3, "C": 0.1}},
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        yaml.safe_dump({"extends": base.name, "name": "child", "split": {"method": "random"}})
    )
    config = load_config(child)
    assert config.name == "child"
    assert (config.split.method, config.split.test_share) == ("random", 0.3)
    assert config.bands["A"] == 0.6


def test_shipped_random_bank_config_extends_the_time_one():
    time_split = load_config(ROOT / "training" / "bank_marketing.yaml")
    random_split = load_config(ROOT / "training" / "bank_marketing_random.yaml")
    assert (random_split.split.method, random_split.model.calibration_data) == (
        "random",
        "cross_fit",
    )
    assert random_split.model.params == time_split.model.params
    assert random_split.data.path == time_split.data.path
    assert random_split.name != time_split.name  # a model card folder each


@pytest.mark.parametrize(
    ("extends", "message"),
    [
        ("missing.yaml", "extends missing.yaml, but"),
        ("child.yaml", "leads back to itself"),
        (3, "must name one config file"),
    ],
)
def test_bad_extends_is_named(tmp_path, extends, message):
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({"extends": extends, "name": "child"}))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(child)
    assert str(child) in str(info.value)


def test_cross_fit_refuses_a_time_split(tmp_path):
    path = write(tmp_path, {"model": {"calibration_data": "cross_fit"}})
    with pytest.raises(ConfigError, match=r"cross_fit needs split\.method: random"):
        load_config(path)


def test_an_extending_config_gives_its_own_name(tmp_path):
    base = write(tmp_path, {"name": "base"})
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({"extends": base.name}))
    with pytest.raises(ConfigError, match="gives its own name"):
        load_config(child)


def test_a_base_configs_paths_are_found_from_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "my_spec.yaml").write_text("x: 1")
    (shared / "base.yaml").write_text(yaml.safe_dump({"name": "base", "spec": "my_spec.yaml"}))
    team = tmp_path / "team"
    team.mkdir()
    (team / "child.yaml").write_text(
        yaml.safe_dump({"extends": "../shared/base.yaml", "name": "c"})
    )
    assert Path(load_config(team / "child.yaml").spec).samefile(shared / "my_spec.yaml")


def test_a_bad_key_from_the_base_names_both_files(tmp_path):
    base = write(tmp_path, {"split": {"test_share": 0.9}})
    child = tmp_path / "child.yaml"
    child.write_text(yaml.safe_dump({"extends": base.name, "name": "child"}))
    with pytest.raises(ConfigError, match=r"split\.test_share") as info:
        load_config(child)
    assert str(child) in str(info.value) and str(base) in str(info.value)
