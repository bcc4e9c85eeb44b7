"""proofs_check: the registry, check_all and the CLI functions (called with a parser built here)."""

import argparse
import json
import time

import numpy as np
import pytest

from proofs_check import Claim, all_claims, check_all, select
from proofs_check.cli import add_claims_arguments, run_claims_command


def parse(*argv):
    p = argparse.ArgumentParser(prog="geomrelax claims")
    add_claims_arguments(p)
    return p.parse_args(list(argv))


def test_registry_has_unique_sourced_claims():
    cs = all_claims()
    assert len(cs) >= 25
    assert len({c.id for c in cs}) == len(cs)
    assert all(c.source and c.description for c in cs)
    fams = {c.id.split("/")[0] for c in cs}
    assert {"identity", "sandwich", "bounded", "descent", "newton-schulz", "spectral-map", "schedule",
            "noise-density"} <= fams


def test_filters_substring_glob_and_tags():
    cs = all_claims()
    assert {c.id for c in select(cs, ids="lncosh")} == {"sandwich/lncosh-quadratic", "sandwich/lncosh-abs"}
    glob = select(cs, ids="identity/entropic/*")
    assert glob and all(c.id.startswith("identity/entropic/") for c in glob)
    assert select(cs, ids="IDENTITY/ENTROPIC/*") == glob  # case-insensitive
    assert all("descent" in c.tags for c in select(cs, tags="descent"))
    assert all("Muon" in c.source for c in select(cs, sources="*Muon*"))
    assert select(cs, ids="lncosh", tags="descent") == []


def test_check_all_on_given_claims_in_order():
    cs = [Claim(id=f"c{k}", source="t", sample=lambda rng: rng.uniform(size=1), margin=lambda z, k=k: z[0] - k, bounds=[[0, 1]])
          for k in (0, 2)]
    seen = []
    vs = check_all(cs, seed=0, budget_s=0.1, progress=seen.append)
    assert [v.id for v in vs] == ["c0", "c2"] and seen == vs
    assert [v.status for v in vs] == ["violated", "holds"]


def test_cli_json_has_the_fields_and_exit_0_when_all_hold(capsys):
    rc = run_claims_command(parse("--id", "sandwich/lncosh*", "--json"))
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [d["id"] for d in out] == ["sandwich/lncosh-quadratic", "sandwich/lncosh-abs"]
    for d in out:
        assert {"id", "source", "status", "worst_margin", "counterexample"} <= set(d)
        assert d["status"] == "holds" and d["counterexample"] is None


def test_cli_exit_1_on_a_violation_unless_report_only(capsys):
    assert run_claims_command(parse("--id", "newton-schulz/ns5-quoted-band")) == 1
    table = capsys.readouterr().out
    assert "violated" in table and "counterexample" in table
    assert run_claims_command(parse("--id", "newton-schulz/ns5-quoted-band", "--report-only")) == 0
    assert run_claims_command(parse("--id", "newton-schulz/ns5-quoted-band", "--json")) == 1


def test_cli_json_counterexample_reevaluates(capsys):
    run_claims_command(parse("--id", "newton-schulz/ns5-quoted-band", "--json", "--report-only"))
    (d,) = json.loads(capsys.readouterr().out)
    c = select(all_claims(), ids="newton-schulz/ns5-quoted-band")[0]
    assert d["status"] == "violated"
    assert c.margin(np.array(d["counterexample"])) == pytest.approx(d["worst_margin"]) and d["worst_margin"] > 0


def test_cli_no_match_and_list(capsys):
    assert run_claims_command(parse("--id", "no-such-claim-anywhere")) == 2
    assert "no claim matches" in capsys.readouterr().err
    assert run_claims_command(parse("--tag", "descent", "--list")) == 0
    out = capsys.readouterr().out
    assert "source:" in out and "assumes:" in out


def test_cli_budget_and_seed_reach_the_checks(capsys):
    run_claims_command(parse("--id", "sandwich/lncosh-abs", "--json", "--budget", "0.05", "--seed", "7"))
    (d,) = json.loads(capsys.readouterr().out)
    assert d["budget_s"] == 0.05 and d["seed"] == 7
    assert d["evaluations"] <= 0.05 * 5000 + 64  # the plan is sized to the budget (RATE = 5000 per second)


@pytest.mark.slow
def test_default_claim_set_runs_in_well_under_two_minutes():
    t0 = time.perf_counter()
    vs = check_all()
    elapsed = time.perf_counter() - t0
    assert elapsed < 120
    for v in vs:
        assert v.status != "inconclusive", (v.id, v.note)
        assert v.status == "holds" or v.counterexample is not None
    expected_false = {v.id for v in vs if v.expected == "violated"}
    assert expected_false <= {v.id for v in vs if v.status == "violated"}
