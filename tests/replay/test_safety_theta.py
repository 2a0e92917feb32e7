"""θ files are data, never code: producers resolve through the registry only, settings are
range-checked, NaN names the file and field, and an HMAC key signs and verifies hand-offs."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from marketphys.cli import main
from marketphys.core.engine import EngineConfig
from marketphys.core.producers import ConstantViscosity, Producer, PushProducer, producer, register_producer
from marketphys.core.theta import Theta
from marketphys.replay.export import SIGNING_KEY_ENV, ThetaFileError, checksum, load_theta, theta_document
from marketphys.frames.producers import GexWallProducer
from marketphys.replay.specs import SpecError, build_producer


def write_theta(path, doc: dict, recompute: bool = True):
    """Write ``doc`` as a θ file, with the checksum anyone can recompute (as an attacker would)."""
    if recompute:
        doc = dict(doc, checksum=checksum(doc))
    path.write_text(json.dumps(doc))
    return path


def base_doc(producers=(PushProducer(), ConstantViscosity(0.5))) -> dict:
    return theta_document(Theta(), EngineConfig(), producers)


def test_theta_naming_popen_is_refused_and_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "pwned"
    doc = base_doc()
    doc["producers"] = [{"class": "subprocess:Popen", "name": "x", "target": "C",
                         "config": {"args": ["touch", str(marker)]}}]
    th = write_theta(tmp_path / "evil.json", doc)
    with pytest.raises(SpecError, match="unknown producer 'subprocess:Popen'"):
        load_theta(th).producers()
    rc = main(["replay", "--lake", str(tmp_path / "no-lake"), "--theta", str(th), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "subprocess:Popen" in err and err.count("\n") == 1
    assert not marker.exists()


def test_theta_never_imports_the_module_it_names(tmp_path, monkeypatch):
    """A module on the path that leaves a marker when imported: naming it must not import it."""
    marker = tmp_path / "imported"
    (tmp_path / "evil_producers_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass P: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    doc = base_doc()
    doc["producers"][0]["class"] = "evil_producers_mod:P"
    with pytest.raises(SpecError, match="evil_producers_mod:P.*nothing was imported"):
        load_theta(write_theta(tmp_path / "t.json", doc)).producers()
    assert not marker.exists() and "evil_producers_mod" not in sys.modules


def test_builtin_and_session_registered_producers_rebuild(tmp_path):
    @producer("C", name="reg_test_flow")
    def flow(frame, grid):
        return 2.0

    @register_producer
    class LocalWall(Producer):
        target = "U"

        def __init__(self, depth: float = 1.0, name: str = "local_wall"):
            self.depth, self.name = float(depth), name

        def produce(self, frame, grid):
            return -self.depth

    prods = [PushProducer(gain=3.0), GexWallProducer(scale=2.0), flow, LocalWall(depth=4.0)]
    doc = theta_document(Theta(), EngineConfig(), prods)
    rebuilt = load_theta(write_theta(tmp_path / "t.json", doc, recompute=False)).producers()
    assert [type(p).__name__ for p in rebuilt] == ["PushProducer", "GexWallProducer", "FunctionProducer", "LocalWall"]
    assert rebuilt[0].gain == 3.0 and rebuilt[1].scale == 2.0 and rebuilt[3].depth == 4.0
    assert rebuilt[2].produce(None, None) == 2.0 and rebuilt[2].target == "C"
    # a function producer nobody registered, or registered for another target, is refused
    with pytest.raises(SpecError, match="unknown producer 'never_registered_fn'"):
        build_producer({"class": "marketphys.core.producers:FunctionProducer", "name": "never_registered_fn",
                        "target": "C", "config": {}})
    with pytest.raises(SpecError, match="registered with target 'C'"):
        build_producer({"class": "marketphys.core.producers:FunctionProducer", "name": "reg_test_flow",
                        "target": "U", "config": {}})


@pytest.mark.parametrize("field, value, msg", [
    (("integrator", "substeps"), 10**7, r"engine_config.integrator.substeps=10000000 is outside"),
    (("integrator", "dt"), 1e-9, r"engine_config.integrator.dt=1e-09 is outside"),
    (("integrator", "horizons"), 100000, r"integrator.horizons=100000 is outside"),
    (("grid", "n"), 10**6, r"engine_config.grid.n=1000000 is outside"),
    (("n_paths",), 10**9, r"engine_config.n_paths=1000000000 is outside"),
    (("integrator", "substeps"), "8", r"substeps='8' is not a finite number"),
])
def test_settings_out_of_range_are_refused_before_anything_runs(tmp_path, capsys, field, value, msg):
    doc = base_doc()
    target = doc["engine_config"]
    for k in field[:-1]:
        target = target[k]
    target[field[-1]] = value
    if field[0] == "grid":
        doc["grid"] = dict(doc["engine_config"]["grid"])
    th = write_theta(tmp_path / "big.json", doc)
    with pytest.raises(ThetaFileError, match=msg):
        load_theta(th)
    rc = main(["replay", "--lake", str(tmp_path / "no-lake"), "--theta", str(th), "--quiet"])
    assert rc == 2 and "big.json" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["theta.wU", "engine_config.huber_delta", "bounds.b.1"])
def test_nan_names_the_file_and_field(tmp_path, where):
    doc = base_doc()
    text = json.dumps(doc)
    obj = json.loads(text)
    keys = where.split(".")
    t = obj
    for k in keys[:-1]:
        t = t[k]
    last = int(keys[-1]) if keys[-1].isdigit() else keys[-1]
    t[last] = float("nan")
    p = tmp_path / "nan.json"
    p.write_text(json.dumps(obj))                          # json writes NaN; a hand edit can too
    with pytest.raises(ThetaFileError, match=rf"nan.json'.*field {where} is not a finite number"):
        load_theta(p)


def test_hmac_signing_round_trip_and_refusals(tmp_path, monkeypatch):
    monkeypatch.setenv(SIGNING_KEY_ENV, "k1-secret")
    doc = base_doc()
    assert doc["signature"].startswith("hmac-sha256:")
    good = write_theta(tmp_path / "signed.json", doc, recompute=False)
    tf = load_theta(good)
    assert np.array_equal(tf.theta.values, Theta().values)
    # tampering with a recomputed checksum passes the checksum but not the signature
    forged = dict(doc, theta=dict(doc["theta"], wU=3.0))
    with pytest.raises(ThetaFileError, match="signature does not match"):
        load_theta(write_theta(tmp_path / "forged.json", forged))
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    with pytest.raises(ThetaFileError, match="is not signed"):
        load_theta(write_theta(tmp_path / "unsigned.json", unsigned))
    monkeypatch.setenv(SIGNING_KEY_ENV, "another-key")
    with pytest.raises(ThetaFileError, match="signature does not match"):
        load_theta(good)
    # without a key the signature is not checked, and an unsigned file loads as before
    monkeypatch.delenv(SIGNING_KEY_ENV)
    assert np.array_equal(load_theta(good).theta.values, tf.theta.values)
    assert "signature" not in base_doc()


def test_every_builtin_producer_class_is_in_the_registry():
    """A producer class the library ships (and its default sets use) must rebuild from a θ file without
    registering it: a new class left out of the registry makes every exported θ that uses it unloadable."""
    import inspect

    import marketphys.core.producers as core_producers
    import marketphys.frames.producers as lake_producers
    from marketphys.core.producers import FunctionProducer, Producer
    from marketphys.replay.specs import BUILTIN_PRODUCERS

    shipped = {f"{m.__name__}:{name}" for m in (core_producers, lake_producers)
               for name, cls in vars(m).items()
               if inspect.isclass(cls) and issubclass(cls, Producer) and cls.__module__ == m.__name__
               and cls not in (Producer, FunctionProducer) and not inspect.isabstract(cls) and not name.startswith("_")}
    assert shipped - set(BUILTIN_PRODUCERS) == set()
