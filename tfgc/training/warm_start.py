"""Starting a new run from another model's E and G (`--config.init_from=PATH`).

A fine-tune starts where a trained model left off instead of from random weights: E and G (and
the EMA copy of G) get the source's inference weights, D and the optimizers start fresh. The
source is a training workdir (its latest checkpoint) or a full tfgc SavedModel export (e.g. the
bundled model, `tfgc/assets/model`). Its architecture (config.model) must equal the run's;
anything else is refused with the fields that differ, never loaded half-way. The one opt-in
exception, `config.init_from_new_bottleneck`, lets C and the centers differ: every variable whose
shape matches is loaded and the few that depend on C start fresh, named in the run's log.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from tfgc.config import from_json, to_json
from tfgc.errors import ConfigError
from tfgc.networks import CodecNetworks
from tfgc.workdir import CONFIG_FILE

_EXPORT_CONFIG = os.path.join("assets.extra", "config.json")
# The config.model fields config.init_from_new_bottleneck lets differ: they change only the
# shapes of the layers next to the latents, not the structure of E or G.
BOTTLENECK_FIELDS = ("centers", "num_channels")


def load_source(path: str) -> tuple[dict, CodecNetworks, str]:
    """(the source's config.model as a dict, its E + inference G, what was read)."""
    from tfgc.codec import networks_from_saved_model, restore_networks

    if not path or not os.path.exists(path):
        raise ConfigError(f"init_from={path!r} does not exist; give a training workdir or a "
                          "full tfgc SavedModel export (a directory with saved_model.pb)")
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        config_path = os.path.join(path, _EXPORT_CONFIG)
        if not os.path.exists(config_path):
            raise ConfigError(f"init_from={path}: a SavedModel without {_EXPORT_CONFIG} (not a "
                              "full tfgc export; tfgc_stock halves cannot be fine-tuned)")
        with open(config_path) as f:  # fields added since the export get their defaults
            config = from_json(f.read())
        networks = networks_from_saved_model(path, config.model)
        return json.loads(to_json(config))["model"], networks, path
    if os.path.exists(os.path.join(path, CONFIG_FILE)):
        restored = restore_networks(path)
        model_config = json.loads(to_json(restored.config))["model"]
        return model_config, restored.networks, f"{path} (step {restored.step})"
    raise ConfigError(f"init_from={path} is neither a training workdir (config.json + "
                      "checkpoints) nor a full tfgc SavedModel export")


def check_same_architecture(source: dict, current: dict, path: str,
                            new_bottleneck: bool = False) -> None:
    """Refuses a source whose config.model differs (but for C and the centers when
    `new_bottleneck`), naming every field that differs."""
    allowed = BOTTLENECK_FIELDS if new_bottleneck else ()
    differ = sorted(k for k in set(source) | set(current)
                    if json.dumps(source.get(k)) != json.dumps(current.get(k)))
    changed = [k for k in differ if k not in allowed]
    if changed:
        details = ", ".join(f"model.{k}: {source.get(k)!r} there, {current.get(k)!r} here"
                            for k in changed)
        hint = ("; for another C or centers set config.init_from_new_bottleneck=True"
                if set(changed) <= set(BOTTLENECK_FIELDS) else "")
        raise ConfigError(f"init_from={path} has a different architecture ({details}); warm "
                          f"starts need the same config.model{hint}")


def _copy(target: tf.Module, source: tf.Module, what: str, new_shapes: bool) -> list[str]:
    """Assigns the source's variables in order; returns those left fresh (shape changed, only
    when `new_shapes`) as 'name old-shape -> new-shape'."""
    if len(target.weights) != len(source.weights):
        raise ConfigError(f"init_from: {what} has {len(source.weights)} variables there, "
                          f"{len(target.weights)} here")
    fresh = []
    for t, s in zip(target.weights, source.weights):
        if t.shape != s.shape:
            if not new_shapes:
                raise ConfigError(f"init_from: {what} variable {t.name} is {t.shape} here, "
                                  f"{s.shape} there")
            fresh.append(f"{t.name} {s.shape.as_list()} -> {t.shape.as_list()}")
            continue
        t.assign(s)
    return fresh


def warm_start(model, path: str, config) -> tuple[str, dict[str, list[str]]]:
    """Copies the source's E and inference G into `model`'s E, G (and, via reset_ema, its EMA
    copy); returns a description of the source for the log and, per network, the variables
    left fresh (non-empty only with config.init_from_new_bottleneck)."""
    source_model, networks, description = load_source(path)
    new_bottleneck = bool(config.init_from_new_bottleneck)
    check_same_architecture(source_model, json.loads(to_json(config))["model"], path,
                            new_bottleneck)
    fresh = {"encoder": _copy(model.encoder, networks.encoder, "the encoder", new_bottleneck),
             "generator": _copy(model.generator, networks.generator, "the generator",
                                new_bottleneck)}
    if networks.semantic_features is not None:
        _copy(model.semantic_features, networks.semantic_features, "F", False)
    model.reset_ema()
    return description, {k: v for k, v in fresh.items() if v}
