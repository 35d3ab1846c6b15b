"""The study spec of a profile (``replication/studies/<profile>.yaml``), typed.

One file per profile holds everything that profile runs: ``trainer`` (the trainer defaults that
``config.load`` layers under every run), ``families`` (each experiment family's arms, seeds and
knobs) and ``queue`` (the order in which ``study run`` trains the arms, one job at a time).

An arm is an experiment YAML of ``replication/configs`` plus config updates (a nested dict: the
family's ``common`` ones, then the arm's own), its seeds, and optionally ``init_from``
("family/arm": start from that arm's final weights of the same seed) and ``pending`` (why it
cannot run yet: the queue skips it). Families without arms (static, speed_memory, nas) have
knobs only. Experiment folder names are fixed here, once (``EXPERIMENTS``); run ids are
``<arm>_seed<seed>``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from replication import config as config_mod
from replication.config import ConfigError

# family -> its experiment folder under results/ (and checkpoints/); the report reads these
EXPERIMENTS = {
    "static": "static", "speed_memory": "bench", "size_augmentation": "t05_size_aug", "progressive": "t12_progressive",
    "transfer": "t08_transfer", "nas": "nas", "precision": "precision_check", "tuning": "t30_tuning",
    "second_proxy": "t30_second_proxy",
}
ARM_KEYS = ("config", "seeds", "init_from", "pending", "note")


@dataclass(frozen=True)
class Arm:
    family: str
    name: str
    config: str  # replication/configs/<config>.yaml
    updates: dict  # config updates: the family's common ones, then the arm's
    seeds: tuple[int, ...]
    init_from: str = ""  # "family/arm": start from its last.pt of the same seed
    pending: str = ""  # why the arm cannot run yet (the queue skips it)
    note: str = ""
    own: dict = field(default_factory=dict)  # the arm's own updates (without the family's common ones)

    def run_id(self, seed: int) -> str:
        return f"{self.name}_seed{seed}"


@dataclass(frozen=True)
class Family:
    name: str
    experiment: str
    arms: dict[str, Arm] = field(default_factory=dict)
    knobs: dict = field(default_factory=dict)  # everything that is not an arm (static, speed, nas, transfer stats)
    common: dict = field(default_factory=dict)  # config updates every arm shares


GATE_KINDS = {"at_least": ("arm", "value"), "ratio_at_least": ("arms", "value"), "no_worse": ("arms", "margin")}


@dataclass(frozen=True)
class Gate:
    """A proxy's validity gate: the claims it judges and the checks (``GATE_KINDS``) that must all hold."""
    name: str
    proxy: str
    declared: str
    judges: tuple[str, ...]
    checks: dict[str, dict]  # "G1" -> {kind, arm / arms ("family/arm"), value / margin, max_epochs, what, informs}
    seeds: tuple[int, ...] = ()  # the seeds its checks read (empty: every finished seed)


@dataclass(frozen=True)
class Study:
    profile: str
    path: Path
    families: dict[str, Family]
    queue: tuple[tuple[str, tuple[str, ...], tuple[int, ...] | None], ...]  # (family, arms, seeds or None: the arms')
    changes: tuple[dict, ...] = ()  # what changed in the spec after it was declared: date, what, why
    gates: dict[str, "Gate"] = field(default_factory=dict)  # validity gates of the proxies, by name

    def family(self, name: str) -> Family:
        if name not in self.families:
            raise ConfigError(f"{self.path}: no family {name!r}; families: {', '.join(self.families)}")
        return self.families[name]

    def arm(self, ref: str) -> Arm:
        """``"family/arm"``."""
        family, _, arm = ref.partition("/")
        arms = self.family(family).arms
        if arm not in arms:
            raise ConfigError(f"{self.path}: family {family!r} has no arm {arm!r}; arms: {', '.join(arms)}")
        return arms[arm]

    def config(self, arm: Arm, seed: int, updates: dict | None = None) -> config_mod.Config:
        """The config of one run of ``arm`` (``updates``: e.g. other results folders)."""
        values = config_mod.merge(arm.updates, {"experiment": self.families[arm.family].experiment,
                                                 "run_id": arm.run_id(seed), "seed": seed})
        return config_mod.load(config_mod.CONFIGS_DIR / f"{arm.config}.yaml", profile=self.profile,
                               updates=config_mod.merge(values, updates or {}))

    def runs(self) -> list[tuple[Arm, int]]:
        """(arm, seed) in queue order, each once."""
        out = []
        for family, arms, seeds in self.queue:
            for name in arms or self.families[family].arms:
                arm = self.families[family].arms[name]
                out += [(arm, s) for s in (seeds if seeds is not None else arm.seeds) if (arm, s) not in out]
        return out


def load(profile: str) -> Study:
    """Read and check ``studies/<profile>.yaml``: every arm's config must resolve."""
    path = config_mod.study_path(profile)
    raw = config_mod.read_yaml(path)
    unknown = set(raw) - {"trainer", "families", "queue", "changes", "gates"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)}; use trainer, families, queue, changes, "
                          "gates")
    families = {}
    for name, body in (raw.get("families") or {}).items():
        if name not in EXPERIMENTS:
            raise ConfigError(f"{path}: unknown family {name!r}; families: {', '.join(EXPERIMENTS)}")
        families[name] = _family(path, name, dict(body or {}))
    changes = tuple(raw.get("changes") or ())
    if not all(isinstance(c, dict) and {"date", "what", "why"} <= set(c) for c in changes):
        raise ConfigError(f"{path}: every entry of changes needs date, what and why")
    gates = {name: _gate(path, name, body) for name, body in (raw.get("gates") or {}).items()}
    study = Study(profile, path, families, tuple(_queue(path, families, raw.get("queue") or [])), changes, gates)
    for family in families.values():
        for arm in family.arms.values():
            try:
                study.config(arm, arm.seeds[0])
            except ConfigError as err:
                raise ConfigError(f"{path}: arm {family.name}/{arm.name}: {err}") from None
            if arm.init_from:
                study.arm(arm.init_from)
    for family in families.values():
        _check_judged_on(path, family)
    for gate in gates.values():
        for check in gate.checks.values():
            for ref in [check["arm"]] if "arm" in check else check["arms"]:
                study.arm(ref)
    return study


JUDGED_ON = ("table12", "equal_time", "table13", "table10", "length_trend")  # what a family's pairs judge


def judged_on(study: "Study", family: str, key: str) -> tuple[tuple[str, str], ...]:
    """The [baseline arm, compared arm] pairs ``family`` declares for ``key`` (one of ``JUDGED_ON``; () if none)."""
    if family not in study.families:
        return ()
    return tuple(tuple(pair) for pair in (study.families[family].knobs.get("judged_on") or {}).get(key, ()))


def judging_family(study: "Study") -> str | None:
    """The family whose ``judged_on`` pairs decide the training claims: the last family of the spec that declares
    any (a later proxy supersedes an earlier one, whose runs stay in the report as measured; None: no family
    declares pairs)."""
    return next((name for name, f in reversed(study.families.items()) if f.knobs.get("judged_on")), None)


def _check_judged_on(path: Path, family: Family) -> None:
    margin = family.knobs.get("ni_margin", 1.0)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin <= 0:
        raise ConfigError(f"{path}: family {family.name}: ni_margin is the non-inferiority margin in top-1 points "
                          f"(a positive number, e.g. 1.0), got {margin!r}")
    declared = family.knobs.get("judged_on") or {}
    where = f"{path}: family {family.name}: judged_on"
    if not isinstance(declared, dict) or set(declared) - set(JUDGED_ON):
        raise ConfigError(f"{where} maps {', '.join(JUDGED_ON)} to [baseline arm, compared arm] pairs; got {declared!r}")
    for key, pairs in declared.items():
        for pair in pairs or ():
            if not (isinstance(pair, list) and len(pair) == 2 and all(a in family.arms for a in pair)):
                raise ConfigError(f"{where}: {key}: {pair!r} is not [baseline arm, compared arm] of this family's "
                                  f"arms ({', '.join(family.arms)})")


def _gate(path: Path, name: str, body) -> Gate:
    where = f"{path}: gate {name}"
    if not isinstance(body, dict) or not {"proxy", "declared", "judges", "checks"} <= set(body):
        raise ConfigError(f"{where}: give proxy, declared, judges (claim ids) and checks")
    checks = dict(body["checks"] or {})
    for key, check in checks.items():
        kind = check.get("kind") if isinstance(check, dict) else None
        if kind not in GATE_KINDS or not set(GATE_KINDS[kind]) | {"what"} <= set(check):
            raise ConfigError(f"{where}: check {key} needs kind ({', '.join(GATE_KINDS)}), what and "
                              f"{' and '.join(GATE_KINDS.get(kind, ('its fields',)))}; got {check!r}")
        if "arms" in GATE_KINDS[kind] and len(check["arms"]) != 2:
            raise ConfigError(f"{where}: check {key} compares two arms, got {check['arms']!r}")
        if not isinstance(check.get("informs", False), bool):
            raise ConfigError(f"{where}: check {key}: informs is true (reported, not part of the gate) or false, "
                              f"got {check['informs']!r}")
    seeds = body.get("seeds") or []
    if not isinstance(seeds, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        raise ConfigError(f"{where}: seeds lists the seeds its checks read (integers, e.g. [0, 1, 2]), got {seeds!r}")
    return Gate(name, str(body["proxy"]), str(body["declared"]), tuple(body["judges"]), checks, tuple(seeds))


def _family(path: Path, name: str, body: dict) -> Family:
    seeds, common, arms = body.pop("seeds", [0]), body.pop("common", {}), body.pop("arms", {})
    out = {}
    for arm, values in arms.items():
        values = dict(values)
        where = f"{path}: arm {name}/{arm}"
        if "config" not in values:
            raise ConfigError(f"{where}: give config: <name of a replication/configs YAML>")
        meta = {k: values.pop(k) for k in ARM_KEYS if k in values}
        arm_seeds = meta.get("seeds", seeds)
        if not (isinstance(arm_seeds, list) and arm_seeds and all(isinstance(s, int) for s in arm_seeds)):
            raise ConfigError(f"{where}: seeds must be a non-empty list of integers, got {arm_seeds!r}")
        out[arm] = Arm(name, arm, str(meta["config"]), config_mod.merge(common, values), tuple(arm_seeds),
                       str(meta.get("init_from", "")), str(meta.get("pending", "")), str(meta.get("note", "")), values)
    return Family(name, EXPERIMENTS[name], out, body, common)


def _queue(path: Path, families: dict, entries: list):
    for entry in entries:
        if not (isinstance(entry, dict) and len(entry) == 1):
            raise ConfigError(f"{path}: queue entries are {{family: {{arms: [...], seeds: [...]}}}}, got {entry!r}")
        (family, what), = entry.items()
        what = what or {}
        if family not in families:
            raise ConfigError(f"{path}: queue names family {family!r}, which the spec does not have")
        arms = tuple(what.get("arms") or ())
        missing = [a for a in arms if a not in families[family].arms]
        if missing:
            raise ConfigError(f"{path}: queue names arms {missing} that family {family!r} does not have")
        seeds = what.get("seeds")
        yield family, arms, (tuple(seeds) if seeds is not None else None)


def knobs(profile: str, family: str) -> dict:
    """A family's knobs (the parameters of its notebook that are not arms)."""
    return dict(load(profile).family(family).knobs)
