"""Config: presets, overrides, validation with suggestions, per-loss defaults."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganforge.config import Config, ConfigError, preset_names, to_dict
from ganforge.recipes import all_keys, apply_overrides, list_presets, load_config, resolve
from ganforge.recipes import config_from_dict as from_dict


def test_presets_load_and_describe_themselves():
    names = preset_names()
    assert {"ring8", "grid25"} <= set(names)
    for name, desc in list_presets():
        assert desc, f"preset {name} has no description"
        resolve(load_config(name))


def test_overrides_parse_types():
    cfg = load_config("ring8", ["train.steps=3000", "loss=wgan-gp", "seed=3", "optim.lr_g=1e-3",
                                "model.g_norm=batch", "data.std=null"])
    assert cfg.train.steps == 3000 and cfg.loss.name == "wgan-gp" and cfg.seed == 3
    assert cfg.optim.lr_g == pytest.approx(1e-3) and cfg.model.g_norm == "batch"


def test_unknown_key_names_nearest():
    with pytest.raises(ConfigError, match=r"unknown config key 'train\.step'.*did you mean 'train\.steps'"):
        load_config("ring8", ["train.step=5"])
    with pytest.raises(ConfigError, match="did you mean 'train.batch_size'"):
        load_config("ring8", ["batch_size=5"])


def test_bad_choice_lists_allowed_values():
    with pytest.raises(ConfigError,
                       match=r"loss.name='wgan_gp' is not allowed; choose one of: .*did you mean 'wgan-gp'"):
        load_config("ring8", ["loss=wgan_gp"])


@pytest.mark.parametrize("item, match", [
    ("train.steps=abc", "train.steps must be an integer"),
    ("train.steps=0", "train.steps must be >= 1"),
    ("train.batch_size=0", "must be >= 1"),
    ("optim.lr_g=fast", "must be a number"),
    ("model.g_norm=3", "not allowed"),
    ("optim.beta1=1.5", "must be <= 1"),
    ("train.steps", "must look like KEY=VALUE"),
])
def test_bad_values(item, match):
    with pytest.raises(ConfigError, match=match):
        load_config("ring8", [item])


def test_unknown_preset_suggests():
    with pytest.raises(ConfigError, match="unknown preset 'ring'.*did you mean 'ring8'"):
        load_config("ring")


def test_yaml_file_with_unknown_key(tmp_path):
    p = tmp_path / "my.yaml"
    p.write_text("data:\n  name: grid25\ntrain:\n  stepz: 10\n")
    with pytest.raises(ConfigError, match="train.stepz.*train.steps"):
        load_config(str(p))
    p.write_text("data: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(p))


def test_resolve_fills_per_loss_defaults():
    c = resolve(load_config("ring8", ["loss=wgan", "optim.lr_g=null", "optim.lr_d=null", "optim.name=auto",
                                      "train.d_steps=null"]))
    assert c.optim.name == "rmsprop" and c.optim.lr_d == pytest.approx(5e-5) and c.train.d_steps == 5
    c = resolve(load_config("ring8", ["loss=wgan-gp", "optim.lr_g=null", "optim.lr_d=null", "optim.name=auto",
                                      "optim.beta1=null", "optim.beta2=null", "train.d_steps=null"]))
    assert (c.optim.name, c.optim.lr_g, c.optim.beta1, c.optim.beta2, c.train.d_steps) == ("adam", 1e-4, 0.0, 0.9, 5)
    c = resolve(from_dict({"loss": "ns"}))
    assert (c.optim.name, c.optim.lr_g, c.optim.beta1, c.train.d_steps) == ("adam", 2e-4, 0.5, 1)
    assert resolve(from_dict({"data": {"name": "ring8"}})).data.std == 0.01
    assert resolve(from_dict({"data": {"name": "grid25"}})).data.std == 0.05


def test_resolve_checks_cross_field_rules():
    with pytest.raises(ConfigError, match="multiple of model.pack"):
        resolve(load_config("ring8", ["train.batch_size=10", "model.pack=4"]))
    with pytest.raises(ConfigError, match="needs data.path"):
        resolve(load_config("ring8", ["data.name=points"]))


def test_round_trip():
    cfg = resolve(load_config("grid25", ["seed=4"]))
    assert from_dict(to_dict(cfg)) == cfg


@settings(max_examples=60, deadline=None)
@given(key=st.text(min_size=1, max_size=20).filter(lambda s: "=" not in s), value=st.text(max_size=10))
def test_any_override_is_accepted_or_refused_cleanly(key, value):
    """Arbitrary KEY=VALUE never crashes with anything but a ConfigError."""
    try:
        cfg = apply_overrides(Config(), [f"{key}={value}"])
    except ConfigError:
        return
    assert key.strip() in all_keys()
    assert isinstance(cfg, Config)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(all_keys()), st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True),
                                               st.booleans(), st.none(), st.text(max_size=8)))
def test_typed_values_on_real_keys(key, value):
    try:
        apply_overrides(Config(), [f"{key}={value}"])
    except ConfigError as e:
        assert key in str(e)


def test_auto_fields_resolve_per_data_kind():
    toy, img = resolve(load_config("ring8")), resolve(load_config("mnist"))
    assert toy.eval.n == 2500 and toy.model.z_dim == 2  # PacGAN's protocol
    assert img.eval.n is None and img.model.z_dim == 100  # images: n = the held-out split's size
    assert img.model.d_norm == "batch" and resolve(load_config("mnist", ["loss=wgan-gp"])).model.d_norm == "instance"
