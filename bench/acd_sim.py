"""The ACD simulator against Erlang C, and the effect of red-list priority.

    .venv/bin/python bench/acd_sim.py [--calls 3000] [--seed 1] [--seeds 1]

For a few (calls per hour, AHT, agents) settings, ``routing/simulator.py`` drives the real engine
(in-memory SQLite, virtual clock) with Poisson arrivals and exponential handle times and no
abandonment (M/M/c), and prints the simulated service level (20 s) and ASA next to Erlang C. With
``--seeds N`` each setting runs N seeds and the spread is printed too. Then one loaded setting with
15 % red-list callers and caller patience shows red-list vs other callers, and a queue with one
lower-skilled backup agent shows the effect of overflow (relaxed skills) after 0, 60, 120 s or
never. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace

from routing.erlang import staffing
from routing.simulator import SimConfig, SimResult, simulate

SETTINGS = ((20.0, 180.0, 2), (36.0, 180.0, 3), (90.0, 180.0, 6), (200.0, 180.0, 12))


def _pct(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:6.1%}"


def _s(x: float | None) -> str:
    return "   n/a" if x is None else f"{x:6.1f}"


def erlang_table(*, calls: int, seeds: list[int]) -> None:
    print(f"M/M/c, {calls} calls per run (the first 200 left out), seeds {seeds}")
    print(f"{'calls/h':>8} {'AHT':>5} {'N':>3} {'A':>5} | {'SL sim':>7} {'Erlang':>7} | {'ASA sim':>7} {'Erlang':>7}")
    for per_hour, aht, agents in SETTINGS:
        runs: list[SimResult] = [
            simulate(config=SimConfig(calls_per_hour=per_hour, aht_s=aht, agents=agents, calls=calls, seed=seed))
            for seed in seeds
        ]
        sls = [r.kpis.service_level or 0.0 for r in runs]
        asas = [r.kpis.asa_s or 0.0 for r in runs]
        e = runs[0].erlang
        spread = ""
        if len(runs) > 1:
            spread = f"  (sd SL {statistics.stdev(sls):.1%}, sd ASA {statistics.stdev(asas) / e.asa_s:.0%} of Erlang)"
        wall = sum(r.wall_s for r in runs) / len(runs)
        print(
            f"{per_hour:8.0f} {aht:5.0f} {agents:3d} {runs[0].config.traffic:5.2f} | "
            f"{_pct(statistics.mean(sls))}  {_pct(e.service_level)} | {_s(statistics.mean(asas))}  {_s(e.asa_s)}"
            f"   {wall:4.1f} s/run{spread}"
        )


def red_list_effect(*, calls: int, seed: int) -> None:
    cfg = SimConfig(
        calls_per_hour=55, aht_s=180, agents=3, calls=calls, warmup_calls=100, patience_s=600, red_list_share=0.15
    )
    r = simulate(config=replace(cfg, seed=seed))
    print(f"\nred list: {cfg.calls_per_hour:g} calls/h, AHT {cfg.aht_s:g} s, {cfg.agents} agents, 15 % red list,")
    print(f"mean patience 600 s (Erlang C for everyone, no abandonment: ASA {r.erlang.asa_s:.0f} s)")
    print(f"{'':10} {'calls':>6} {'SL 20s':>7} {'ASA':>6} {'abandoned':>9}")
    for label, k in (("red list", r.red_list), ("others", r.others), ("all", r.kpis)):
        rate = k.abandoned / k.offered if k.offered else None
        print(f"{label:10} {k.calls:6d} {_pct(k.service_level)}  {_s(k.asa_s)} {_pct(rate):>9}")


def overflow_effect(*, calls: int, seed: int) -> None:
    print("\noverflow: 55 calls/h, AHT 180 s, 3 agents at skill level 2 + 1 backup at level 1 (relaxed skills)")
    print(f"{'overflow after':>15} {'SL 20s':>7} {'ASA':>6} {'by backup':>9}")
    for after in (None, 120.0, 60.0, 0.0):
        cfg = SimConfig(
            calls_per_hour=55, aht_s=180, agents=3, backup_agents=1, overflow_after_s=after, calls=calls, seed=seed
        )
        r = simulate(config=cfg)
        label = "never" if after is None else f"{after:g} s"
        share = len(r.overflow_calls) / len(r.outcomes)
        print(f"{label:>15} {_pct(r.kpis.service_level)}  {_s(r.kpis.asa_s)} {share:9.1%}")
    four = staffing(traffic=r.config.traffic, agents=4, aht_s=180, target_s=20)
    print(f"(Erlang C: 3 agents ASA {r.erlang.asa_s:.0f} s; ", end="")
    print(f"4 equal agents SL {four.service_level:.1%}, ASA {four.asa_s:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1, help="first seed")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per setting")
    args = parser.parse_args()
    erlang_table(calls=args.calls, seeds=list(range(args.seed, args.seed + args.seeds)))
    red_list_effect(calls=max(1000, args.calls // 2), seed=args.seed)
    overflow_effect(calls=max(1000, args.calls // 2), seed=args.seed)


if __name__ == "__main__":
    main()
