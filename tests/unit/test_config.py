"""The config tree: YAML plus overrides, refused when unknown or ill-typed, schedule arithmetic."""

from __future__ import annotations

import pytest
import yaml

from ernie_m.config import Config, config_from_dict, load_config
from ernie_m.errors import ErnieMError


def test_overrides_are_typed():
    config = load_config(None, ["train.lr=5e-4", "data.languages=[de, sw]", "objectives.bt_top_k=10"])
    assert config.train.lr == 5e-4 and config.data.languages == ("de", "sw") and config.objectives.bt_top_k == 10


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("train.learning_rate=1", "learning_rate"),
        ("train.batch_size=big", "batch_size"),
        ("objectives.pair_positions=sideways", "pair_positions"),
        ("nonsense", "section.key=value"),
        ("train.log_every=0", "log_every"),
        ("train.keep_checkpoints=0", "keep_checkpoints"),
        ("objectives.bt_temperature=0", "bt_temperature"),
        ("stages=[{name: a, steps: 5, objectives: {mmlm: 1, tlm: -1}}]", "weights >= 0"),
        ("train.lr=.inf", "train.lr must be a finite number"),
        ("train.max_grad_norm=.nan", "train.max_grad_norm must be a finite number"),
        ("stages=[{name: a, steps: 5, objectives: {mmlm: .inf}}]", r"stages\[0\]\.objectives\.mmlm must be a finite"),
        ("train.betas=[1.5, 2]", "train.betas must both be in"),
        ("train.betas=[0.9, -0.1]", "train.betas must both be in"),
        ("train.max_grad_norm=0", "max_grad_norm must be positive"),
        ("model.hidden_size=130", "divisible by model.num_attention_heads 4"),
        ("model.num_attention_heads=0", "model sizes"),
        ("model.hidden_dropout_prob=1.0", "dropout_prob"),
        ("objectives.random_token_prob=-0.1", "random_token_prob must be in"),
        ("tokenizer.vocab_size=3", "tokenizer.vocab_size"),
        ("train.seed=-1", "train.seed"),
        ("data.max_pairs_per_language=0", "max_pairs_per_language"),
    ],
)
def test_bad_values_are_refused(override, fragment):
    with pytest.raises(ErnieMError, match=fragment):
        load_config(None, [override])


def test_yaml_round_trip(tmp_path):
    config = load_config(None, ["train.seed=7", "objectives.bt_decoding=sample"])
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config.to_dict()))
    assert load_config(tmp_path / "c.yaml") == config


def test_stage_lookup_and_squeezed_schedule():
    config = config_from_dict(
        {
            "stages": [
                {"name": "a", "steps": 300, "objectives": {"mmlm": 1}},
                {"name": "b", "steps": 100, "objectives": {"btmlm": 1}},
            ]
        }
    )
    assert config.stage_at(299).name == "a" and config.stage_at(300).name == "b"
    short = config.with_total_steps(8)
    assert [s.steps for s in short.stages] == [6, 2] and short.total_steps == 8


@pytest.mark.parametrize(("total", "log_every"), [(50, 5), (8, 1), (10_000, 10), (3_000_000, 10)])
def test_a_squeezed_schedule_still_logs_ten_times(total, log_every):
    assert load_config(None, ["train.log_every=10"]).with_total_steps(total).train.log_every == log_every


def test_defaults_are_the_two_stage_recipe():
    stages = Config().stages
    assert list(stages[0].objectives) == ["mmlm", "tlm", "camlm"]
    assert list(stages[1].objectives) == ["mmlm", "tlm", "camlm", "btmlm"]


@pytest.mark.parametrize("name", ["tiny", "base", "large"])
def test_shipped_configs_load(name):
    from pathlib import Path

    config = load_config(Path(__file__).parents[2] / "configs" / f"{name}.yaml")
    assert config.total_steps > 0 and config.model.hidden_size % config.model.num_attention_heads == 0
