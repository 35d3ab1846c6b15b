"""The study specs (replication/studies/*.yaml): typed, every arm resolves, the queue, the CLI."""
from __future__ import annotations

import pytest
import yaml

from replication import config as C
from replication.study import experiments, spec


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu"])
def test_every_arm_of_every_spec_resolves(profile):
    study = spec.load(profile)
    assert set(study.families) <= set(spec.EXPERIMENTS)
    for arm, seed in study.runs():
        cfg = study.config(arm, seed)
        assert (cfg.experiment, cfg.run_id, cfg.seed, cfg.profile) == (spec.EXPERIMENTS[arm.family], f"{arm.name}_seed{seed}",
                                                                       seed, profile)


def test_the_cpu_trial_is_declared_as_the_issue_fixes_it():
    study = spec.load("cpu")
    fam = study.family("progressive")
    assert {"P", "F", "F_time", "V", "W", "R", "RA", "P36", "F36"} <= set(fam.arms)
    p, f = (study.config(fam.arms[a], 0) for a in ("P", "F"))
    assert (p.train.epochs, p.schedule.stages, p.schedule.image_size, p.data.eval_size) == (12, 4, (64, 128), 160)
    assert (p.schedule.randaug_magnitude, p.schedule.mixup_alpha, p.schedule.dropout) == ((5, 15), (0, 0.2), (0.1, 0.3))
    assert f.schedule.mode == "fixed" and f.schedule.hold == "middle"
    assert all(fam.arms[a].seeds == (0, 1, 2) for a in ("P", "F", "V", "W", "R", "RA"))
    f_time = study.config(fam.arms["F_time"], 0)  # its epochs come from P seed 0's time, written before its runs
    assert (f_time.schedule.mode, f_time.schedule.hold, f_time.train.epochs) == ("fixed", "middle", 9)
    assert any("F_time" in c["what"] for c in study.changes)
    order = [(a.family, a.name, s) for a, s in study.runs()]
    assert order.index(("progressive", "P", 0)) < order.index(("progressive", "F", 0))


def test_the_queue_skips_pending_arms_and_follows_the_filters(monkeypatch):
    import dataclasses

    study = spec.load("cpu")
    arms = study.family("progressive").arms
    arms["F_time"] = dataclasses.replace(arms["F_time"], pending="waits for P seed 0")
    monkeypatch.setattr(experiments.spec_mod, "load", lambda profile: study)
    ran = []
    monkeypatch.setattr(experiments, "run_arm", lambda study, arm, seed, *a, **k: ran.append((arm.name, seed)) or {})
    experiments.run_queue("cpu", family="progressive", arms=("F", "F_time"), seeds=(0,))
    assert ran == [("F", 0)]
    ran.clear()
    experiments.run_queue("cpu", family="progressive", until=0)  # past the deadline: nothing starts
    assert ran == []


@pytest.mark.parametrize("edit,needle", [
    ({"families": {"progressive": {"arms": {"X": {"schedule": {"hold": "middle"}}}}}}, "give config"),
    ({"families": {"progressive": {"arms": {"X": {"config": "fixed", "schedule": {"hold": "midle"}}}}}},
     "(?s)arm progressive/X: .*schedule.hold='midle'"),
    ({"families": {"progressive": {"arms": {"X": {"config": "fixed", "seeds": 0}}}}}, "seeds must be a non-empty list"),
    ({"families": {"progressive": {"arms": {"X": {"config": "transfer", "init_from": "progressive/Q"}}}}},
     "has no arm 'Q'"),
    ({"families": {"progresive": {}}}, "unknown family 'progresive'"),
    ({"queue": [{"progressive": {"arms": ["Z"]}}]}, "queue names arms \\['Z'\\]"),
    ({"extra": 1}, "unknown top-level keys"),
])
def test_a_broken_spec_is_refused_naming_the_place(tmp_path, monkeypatch, edit, needle):
    raw = {"trainer": {"data": {"dataset": "imagenette_tiny"}}, "families": {"progressive": {"arms": {}}}, "queue": []}
    raw = C.merge(raw, edit)
    monkeypatch.setattr(C, "STUDIES_DIR", tmp_path)
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(C.ConfigError, match=needle):
        spec.load("mine")


def test_an_arm_that_starts_from_another_needs_its_checkpoint(tmp_path):
    study = spec.load("smoke")
    with pytest.raises(FileNotFoundError, match="run progressive/P seed 0 first.*--family progressive --arms P --seeds 0"):
        experiments.run_arm(study, study.arm("transfer/P_tiny"), 0, str(tmp_path / "r"), str(tmp_path / "c"))


def test_study_show_lists_every_run(capsys):
    from replication.__main__ import main

    assert main(["study", "show", "smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(spec.load("smoke").runs()) and lines[0].startswith("progressive/P seed 0: ")
    assert main(["study", "show", "laptop"]) == 2
