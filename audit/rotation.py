"""Rotating the holdout: k generations, each with one fold of the corpus held out, so every record is
a non-member once, and the attacks' scores pooled about the mechanism.

One run on a small corpus has few holdout records, and the interval of an attack at 1% false
positives needs about a thousand to fall under the default policy's 0.05 when nothing leaks. With k
runs, fold r is run r's holdout and a same-size sample of run r's members is scored against run r's
synthetic texts; pooled, each side holds k folds' worth of scores, and each run adds as many to one
side as to the other, so a run whose texts sit closer to everything moves both sides alike. The
pooled metrics answer a question about the mechanism (does a run of this generator, at this size,
reveal its members?); the release is one of its runs. Coverage under the null:
benchmarks/rotation_coverage.py.
"""

from __future__ import annotations

import numpy as np

from smotext.audit.registry import Metric
from smotext.audit.stats import attack_summary, bootstrap, dcr_share, rate_difference_interval

MEMBER, NONMEMBER = "member_scores", "nonmember_scores"
NN = ("member_nn", "nonmember_nn")  # reconstruction: each record's cosine to its nearest synthetic text
NEAR = "near_verbatim_counts"  # reconstruction: [near copies of members, of holdout texts, synthetic texts]


def pooled_plugins(results) -> list[str]:
    """The plug-ins of an audit whose per-record arrays pool across rotations."""
    return [name for name, arrays in results.arrays.items()
            if {MEMBER, NONMEMBER} <= set(arrays) or set(NN) <= set(arrays)]


def pool(first, others: list, rng: np.random.Generator, n_boot: int) -> dict:
    """Replace the pooled metrics of ``first`` (the released run's ``AuditResult``) by their values over
    ``first`` and ``others`` (the other rotations' results); the released run's own values move to
    the returned summary, which also says which metrics were pooled and over how many records.
    A plug-in that failed in any rotation is marked failed in ``first``: its pooled number would
    rest on fewer runs than it claims."""
    runs = [first, *others]
    pooled, own = [], {}
    for name in pooled_plugins(first):
        missing = [i + 1 for i, r in enumerate(runs) if name not in r.arrays]
        if missing:
            entry = first.plugins[name]
            entry.update(status="failed", error=f"no scores from rotation(s) {missing}: "
                                               f"{[runs[i - 1].plugins.get(name, {}).get('error') for i in missing]}")
            for key in [k for k in first.metrics if k.startswith(name + ".")]:
                del first.metrics[key]
            continue
        arrays = [r.arrays[name] for r in runs]
        new: dict[str, tuple[float, tuple[float, float]]] = {}
        if MEMBER in arrays[0]:
            m = np.concatenate([a[MEMBER] for a in arrays])
            h = np.concatenate([a[NONMEMBER] for a in arrays])
            for key, s in attack_summary(m, h).items():
                new[f"{name}.{key}"] = (s["value"], tuple(s["ci"]))
            sizes = (len(m), len(h))
        if NN[0] in arrays[0]:
            m = np.concatenate([a[NN[0]] for a in arrays])
            h = np.concatenate([a[NN[1]] for a in arrays])
            v, lo, hi = bootstrap(dcr_share, m, h, rng, n_boot)
            new[f"{name}.dcr_share"] = (v, (float(lo), float(hi)))
            sizes = (len(m), len(h))
        if NEAR in arrays[0]:
            km, kh, n = (int(x) for x in np.sum([a[NEAR] for a in arrays], axis=0))
            new[f"{name}.near_verbatim.excess_rate"] = ((km - kh) / n, rate_difference_interval(km, kh, n))
        for key, (value, ci) in new.items():
            old = first.metrics.get(key)
            if old is None:
                continue
            own[key] = {"value": old.value, "ci": list(old.ci) if old.ci else None}
            first.metrics[key] = Metric(float(value), old.safer, f"{old.description}; pooled over {len(runs)} rotations",
                                        ci=(float(ci[0]), float(ci[1])), ideal=old.ideal)
            pooled.append(key)
        first.plugins[name].setdefault("details", {})["pooled"] = {"rotations": len(runs), "members": sizes[0],
                                                                   "nonmembers": sizes[1]}
    holdout = sum(int(r.inputs["evaluated"]["nonmembers"]) for r in runs)
    members = sum(int(r.inputs["evaluated"]["members"]) for r in runs)
    return {"rotations": len(runs), "pooled_metrics": sorted(pooled), "members": members, "nonmembers": holdout,
            "released_run": own}
