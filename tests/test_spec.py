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


def test_each_spec_declares_the_pairs_its_claims_are_judged_on():
    cpu, gpu = spec.load("cpu"), spec.load("gpu")
    assert spec.judged_on(cpu, "progressive", "table12") == (("F", "P"),)
    assert spec.judged_on(cpu, "progressive", "table13") == (("V", "P"), ("R", "RA"))  # Table 13's rows, in order
    assert spec.judged_on(cpu, "progressive", "table10") == (("V1P", "P"),)
    assert spec.judged_on(gpu, "progressive", "table12") == (("F", "P"), ("r50_F", "r50_P"), ("b4_F", "b4_P"))
    assert spec.judged_on(cpu, "tuning", "table12") == () == spec.judged_on(cpu, "no_such_family", "table12")
    assert spec.judging_family(cpu) == "second_proxy" == spec.judging_family(gpu)  # the last family with judged_on
    for study in (cpu, gpu):
        assert spec.judged_on(study, "second_proxy", "table13") == (("V", "P"),)  # no random-resize row
        assert spec.judged_on(study, "second_proxy", "table10") == (("V1", "P"),)


def test_the_second_proxy_trial_differs_from_its_baseline_only_where_its_arm_says():
    """P / V / V1 / Pw keep F's recipe and change only sizes, held or growing dropout, the model or the length;
    the gate reads seeds 0-2 while F runs 5 (issue 30, section 3)."""
    from replication import progressive

    study = spec.load("cpu")
    fam = study.family("second_proxy")
    cfg = {a: progressive.resolve(study.config(fam.arms[a], 0))
           for a in ("F", "P", "Pw", "V", "V1", "F_half", "P_half", "F_time")}
    stages = {a: [(s.image_size, s.dropout, s.epochs) for s in progressive.plan(c).stages] for a, c in cfg.items()}
    assert stages["F"] == [(128, 0.2, 16)]
    assert stages["P"] == [(96, 0.1, 4), (104, 0.133333, 4), (120, 0.166667, 4), (128, 0.2, 4)]
    assert [s[0] for s in stages["Pw"]] == [64, 88, 104, 128] and stages["V1"] == stages["P"]
    assert stages["V"] == [(s, 0.2, n) for s, _, n in stages["P"]]  # F's dropout, held
    assert stages["F_half"] == [(128, 0.2, 8)] and [s[2] for s in stages["P_half"]] == [2] * 4
    assert stages["F_time"] == [(128, 0.2, 12)]  # P seed 0's 1,443 s at F's 125.2 s per epoch, written before its runs
    for arm, c in cfg.items():
        assert (c.optim.name, c.optim.lr, c.train.ema_horizon, c.data.eval_size, c.schedule.randaug_magnitude,
                c.schedule.mixup_alpha) == ("lamb", 0.005, 0.1, 160, (0, 0), (0, 0)), arm
        assert c.model.name == ("efficientnet_b1" if arm == "V1" else "efficientnetv2_b0"), arm
    assert fam.arms["F"].seeds == fam.arms["P"].seeds == (0, 1, 2, 3, 4) and fam.arms["V"].seeds == (0, 1, 2)
    assert not fam.arms["F_time"].pending and study.gates["second_proxy"].seeds == (0, 1, 2)
    assert fam.knobs["ni_margin"] == 1.0
    order = [(a.name, s) for a, s in study.runs() if a.family == "second_proxy"]
    assert order.index(("F_noreg", 2)) < order.index(("P", 0)) < order.index(("V", 0))  # the gate, then P seed 0


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


def test_past_until_the_queue_names_the_first_run_without_a_record(tmp_path, capsys):
    study = spec.load("cpu")
    first, second = [(a, s) for a, s in study.runs() if a.family == "second_proxy"][:2]
    done = experiments.results.run_dir(study.config(first[0], first[1], {"train": {"results_dir": str(tmp_path)}}))
    done.mkdir(parents=True)
    (done / "summary.json").write_text("{}")
    assert experiments.run_queue("cpu", family="second_proxy", until=0, output_dir=str(tmp_path)) == []
    out = capsys.readouterr().out
    assert f"before second_proxy/{first[0].name} seed {first[1]}" not in out
    assert out.strip() == f"stopping: past --until, before second_proxy/{second[0].name} seed {second[1]}"


def test_every_cell_of_the_cpu_grid_trains_in_float32_and_transfer_goes_seed_by_seed():
    from replication import train

    study = spec.load("cpu")
    for arm in study.family("size_augmentation").arms.values():
        cfg = study.config(arm, 0)
        assert not train.trains_in_bf16(cfg), arm.name
    order = [(a.name, s) for a, s in study.runs() if a.family == "transfer"]
    assert order[:2] == [("P_cifar10", 0), ("P_flowers102", 0)] and len(order) == 15


def _write_spec(tmp_path, monkeypatch, raw: dict) -> None:
    """``raw`` as the study spec "mine", in a folder of the test's own."""
    monkeypatch.setattr(C, "STUDIES_DIR", tmp_path)
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(raw))


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
    ({"gates": {"g": {"proxy": "p", "declared": "d", "judges": ["C22"]}}}, "gate g: give proxy, declared, judges"),
    ({"gates": {"g": {"proxy": "p", "declared": "d", "judges": [], "checks": {"G1": {"kind": "at_most", "what": "w"}}}}},
     "gate g: check G1 needs kind \\(at_least, ratio_at_least, no_worse\\)"),
    ({"gates": {"g": {"proxy": "p", "declared": "d", "judges": [],
                      "checks": {"G2": {"kind": "no_worse", "arms": ["progressive/A"], "margin": 1, "what": "w"}}}}},
     "gate g: check G2 compares two arms"),
    ({"gates": {"g": {"proxy": "p", "declared": "d", "judges": [],
                      "checks": {"G1": {"kind": "at_least", "arm": "progressive/Q", "value": 80, "what": "w"}}}}},
     "has no arm 'Q'"),
    ({"gates": {"g": {"proxy": "p", "declared": "d", "judges": [], "checks": {}, "seeds": "0-2"}}},
     "gate g: seeds lists the seeds its checks read"),
    ({"families": {"progressive": {"judged_on": {"table12": [["F", "Q"]]}, "arms": {"F": {"config": "fixed"}}}}},
     "family progressive: judged_on: table12: \\['F', 'Q'\\] is not \\[baseline arm, compared arm\\]"),
    ({"families": {"progressive": {"judged_on": {"table14": []}}}}, "judged_on maps table12, equal_time"),
    ({"families": {"progressive": {"ni_margin": "1 point"}}}, "family progressive: ni_margin is the non-inferiority"),
    ({"families": {"progressive": {"ni_margin": 0}}}, "ni_margin is the non-inferiority margin in top-1 points"),
])
def test_a_broken_spec_is_refused_naming_the_place(tmp_path, monkeypatch, edit, needle):
    raw = {"trainer": {"data": {"dataset": "imagenette_tiny"}}, "families": {"progressive": {"arms": {}}}, "queue": []}
    raw = C.merge(raw, edit)
    _write_spec(tmp_path, monkeypatch, raw)
    with pytest.raises(C.ConfigError, match=needle):
        spec.load("mine")


def test_a_transfer_run_trains_its_source_first_and_rebuilds_a_missing_checkpoint(tmp_path, monkeypatch):
    """The source run is trained when absent; on a fresh clone (record committed, checkpoint not) it is
    trained again into results/rebuilt/ and, on CPU, reproduces its record exactly."""
    import json
    import shutil

    from replication import results
    from replication.report import tables_proxy
    from replication.report.collect import Results

    raw = C.read_yaml(C.study_path("smoke"))
    raw["trainer"]["train"].update(epochs=2, steps_per_epoch=2)
    raw["trainer"]["data"]["eval_limit"] = 32
    raw["families"] = {"progressive": {"seeds": [0], "arms": {"P": {"config": "progressive"}}},
                       "transfer": {"seeds": [0], "arms": {"T": {"config": "transfer", "init_from": "progressive/P",
                                                                  "schedule": {"image_size": [32, 32]}}}}}
    raw["queue"] = [{"transfer": {}}]
    _write_spec(tmp_path, monkeypatch, raw)
    study = spec.load("mine")
    out, ckpts = tmp_path / "r", tmp_path / "c"
    transfer, source = study.arm("transfer/T"), study.arm("progressive/P")

    def path(arm, root, *parts):
        cfg = study.config(arm, 0, {"train": {"results_dir": str(out), "checkpoint_dir": str(ckpts)}})
        return (results.run_dir(cfg) if root == "r" else results.checkpoint_dir(cfg)).joinpath(*parts)

    first = experiments.run_arm(study, transfer, 0, str(out), str(ckpts))
    original = json.loads(path(source, "r", "summary.json").read_text())
    assert first["status"] == "complete" and not (out / results.REBUILT).exists()
    assert yaml.safe_load(path(transfer, "r", "config.yaml").read_text())["model"]["init_checkpoint"] == \
        str(path(source, "c", "last.pt"))

    path(source, "c", "last.pt").unlink()  # a fresh clone: records, no checkpoints
    assert experiments.run_arm(study, transfer, 0, str(out), str(ckpts)) == first  # finished: nothing retrained
    assert not (out / results.REBUILT).exists()

    shutil.rmtree(path(transfer, "r"))
    again = experiments.run_arm(study, transfer, 0, str(out), str(ckpts))
    rebuilt = out / results.REBUILT / original["experiment"] / original["run_id"]
    assert json.loads((rebuilt / "summary.json").read_text())["final"] == original["final"]
    assert json.loads(path(source, "r", "summary.json").read_text()) == original  # the committed record stays
    assert again["top1"] == first["top1"]
    note, = tables_proxy.rebuilt_sources(Results(out, include_smoke=True))
    assert f"{original['run_id']} " in note and "(identical)" in note


def test_the_queue_skips_a_run_whose_bf16_this_cpu_would_emulate(tmp_path, monkeypatch, capsys):
    from replication import train

    raw = C.read_yaml(C.study_path("smoke"))
    raw["families"] = {"progressive": {"seeds": [0], "arms": {"B": {"config": "fixed", "train": {"bf16_from_size": 32}}}}}
    raw["queue"] = [{"progressive": {}}]
    raw["trainer"]["train"].update(results_dir=str(tmp_path / "r"), checkpoint_dir=str(tmp_path / "c"))
    _write_spec(tmp_path, monkeypatch, raw)
    monkeypatch.setattr(train, "cpu_has_bf16", lambda: False)
    monkeypatch.delenv("REPLICATION_ALLOW_SLOW_BF16", raising=False)
    assert experiments.run_queue("mine") == []
    assert "progressive/B seed 0\n  skipped: train.bf16_from_size=32" in capsys.readouterr().out
    assert not (tmp_path / "r").exists()


def test_study_show_lists_every_run(capsys):
    from replication.__main__ import main

    assert main(["study", "show", "smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(spec.load("smoke").runs()) and lines[0].startswith("progressive/P seed 0: ")
    assert main(["study", "show", "laptop"]) == 2


@pytest.mark.parametrize("args,needle", [
    (["--family", "progresive"], "--family progresive: not in the queue of .*smoke.yaml; families: progressive, "),
    (["--family", "progressive", "--arms", "Q"], "--arms Q: not arms of family progressive .*; arms: P, F, RA"),
    (["--arms", "P", "--seeds", "7"], "--seeds 7: not seeds of the queue \\(arms P\\) .*; seeds: 0"),
])
def test_study_run_refuses_an_unknown_family_arm_or_seed_naming_the_choices(capsys, monkeypatch, args, needle):
    from replication.__main__ import main

    ran = []
    monkeypatch.setattr(experiments, "run_arm", lambda *a, **k: ran.append(a) or {})
    assert main(["study", "run", "smoke", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert __import__("re").search(needle, err), err
    assert ran == []


def test_sigterm_stops_the_queue_with_the_command_that_continues_it(capsys, monkeypatch):
    import os
    import signal
    import time

    from replication.__main__ import main

    def killed(*args, **kwargs):  # `kill PID` while a run trains: nothing after it in the queue starts
        ran.append(args[1].name)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not interrupt the queue")

    ran, before = [], signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(experiments, "run_arm", killed)
    assert main(["study", "run", "smoke", "--family", "progressive", "--arms", "P", "F", "--until", "23:59"]) == 130
    err = capsys.readouterr().err
    assert ran == ["P"] and "Traceback" not in err
    assert "interrupted; the run in progress keeps its last finished epoch" in err
    assert "(plus --until HH:MM for a new deadline):\n  python -m replication study run smoke --family progressive " \
           "--arms P F\n" in err
    assert signal.getsignal(signal.SIGTERM) is before  # the command's handler is gone once it returns


@pytest.mark.parametrize("until", ["25:99", "abc", "1:2:3", "12:5", ""])
def test_study_run_until_takes_a_time_of_day_or_says_how_to_write_it(capsys, until):
    from replication.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(["study", "run", "smoke", "--until", until])
    assert stop.value.code == 2
    assert f"argument --until: {until!r} is not a time of day; write HH:MM" in capsys.readouterr().err
    assert experiments.clock("23:30") == (23, 30) and experiments.clock("7:05") == (7, 5)


def test_study_help_explains_the_profile(capsys):
    from replication.__main__ import main

    for action in ("run", "show"):
        with pytest.raises(SystemExit):
            main(["study", action, "--help"])
        assert "the study spec replication/studies/<profile>.yaml: smoke, cpu or gpu" in " ".join(capsys.readouterr().out.split())


def test_the_tuning_family_reads_only_the_minival_and_declares_its_rule_and_gate():
    study = spec.load("cpu")
    tuning = study.family("tuning")
    assert tuning.experiment == "t30_tuning" and len(tuning.arms) >= 4
    for arm in tuning.arms.values():
        cfg = study.config(arm, 0)
        assert (cfg.data.train_split, cfg.data.eval_split) == ("train_tune", "minival")  # never the val set
        assert cfg.schedule.mode == "fixed" and cfg.schedule.image_size == (128, 128)
    knobs = spec.knobs("cpu", "tuning")
    assert "Finalists" in knobs["rule"] and "80.0 %" in knobs["gate"] and knobs["gate_epochs"] <= 20


def test_a_study_spec_is_parsed_once_however_many_arms_it_resolves(monkeypatch):
    monkeypatch.setattr(C, "_PARSED", {})
    monkeypatch.setattr(C, "PARSES", C.Counter())
    study = spec.load("cpu")
    configs = [study.config(arm, seed) for arm, seed in study.runs()]
    spec.load("cpu")
    assert len(configs) > 60 and C.PARSES[str(C.study_path("cpu").resolve())] == 1
    raw = C.read_yaml(C.study_path("cpu"))
    raw["trainer"]["data"]["batch_size"] = -1  # a caller's change never reaches the next reader
    assert C.read_yaml(C.study_path("cpu"))["trainer"]["data"]["batch_size"] == 64
