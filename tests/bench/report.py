#!/usr/bin/python3
"""Turn the benchmark programs' output into figures for tests/bench/run.sh.

Each figure command reads what a program printed, adds the baselines that
run.sh timed, writes one part file of JSON and prints one line per
comparison. merge gathers the parts into results.json with a description
of the machine.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys


def read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def write_part(path, part):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(part, file, indent=2)
        file.write("\n")


def duration(seconds):
    if seconds < 1e-3:
        return "%.1f us" % (seconds * 1e6)
    if seconds < 1:
        return "%.1f ms" % (seconds * 1e3)
    return "%.2f s" % seconds


def figure_db(args):
    run = read_json(args.input)
    ratio = run["load_s"] / run["json_parse_s"]
    part = {
        "figure": "db_load",
        "input": args.label,
        "records": run["records"],
        "files": run["files"],
        "load_s": run["load_s"],
        "load_runs_s": run["load_runs_s"],
        "baseline": "json_load_file of every file",
        "baseline_s": run["json_parse_s"],
        "baseline_runs_s": run["json_parse_runs_s"],
        "ratio": ratio,
        "ratio_meaning": "load time / baseline time",
    }
    if run["records_invalid"] or run["json_invalid"]:
        print("db load: warning: %d records invalid, %d files not JSON" %
              (run["records_invalid"], run["json_invalid"]))
    print("db load (%d records): %.3f s vs json parse %.3f s -> %.2fx" %
          (run["records"], run["load_s"], run["json_parse_s"], ratio))
    write_part(args.out, part)


def figure_match(args):
    run = read_json(args.input)
    parts = []
    for inventory in run["inventories"]:
        match_s = inventory["match"]["per_image_s"]
        linear_s = inventory["linear"]["per_image_s"]
        parts.append({
            "figure": "match",
            "inventory": inventory["label"],
            "packages": inventory["packages"],
            "findings": inventory["findings"],
            "database_records": run["records"],
            "database_entries": run["affected_entries"],
            "match_per_image_s": match_s,
            "match_runs_s": inventory["match"]["runs_s"],
            "match_iterations_per_run":
                inventory["match"]["iterations_per_run"],
            "baseline": "linear scan of every entry per package",
            "baseline_per_image_s": linear_s,
            "baseline_runs_s": inventory["linear"]["runs_s"],
            "baseline_iterations_per_run":
                inventory["linear"]["iterations_per_run"],
            "ratio": linear_s / match_s,
            "ratio_meaning": "baseline time / match time (speed-up)",
        })
        print("match %s (%d packages, %d findings): %s vs linear scan %s "
              "-> %.0fx faster" %
              (inventory["label"], inventory["packages"],
               inventory["findings"], duration(match_s),
               duration(linear_s), linear_s / match_s))
    write_part(args.out, parts)


def parse_baseline(text):
    """Parse "NAME=NS,NS,..." (nanoseconds per run) or "NAME=skip:REASON"."""
    name, _, value = text.partition("=")
    if value.startswith("skip:"):
        return name, None, value[len("skip:"):]
    runs = [int(ns) / 1e9 for ns in value.split(",")]
    return name, runs, None


# Goals on the walk's time over a baseline's time, for the baselines that
# have one: igzip -dc only decompresses, bsdtar -tf also parses the tar.
LAYER_TIME_GOALS = {"igzip -dc": ("<=", 1.1), "bsdtar -tf": ("<", 1.0)}


def goal_text(value, goal, unit=""):
    """Return "goal <= 1.1: met" for value against (operator, limit)."""
    operator, limit = goal
    met = value <= limit if operator == "<=" else value < limit
    return "goal %s %g%s: %s" % (operator, limit, unit,
                                 "met" if met else "NOT met")


def merge_layer_runs(paths):
    """Join bench_layer_walk outputs of one layer: their runs and medians."""
    runs = [read_json(path) for path in paths]
    merged = dict(runs[0])
    for side in ("walk", "raw_inflate", "gzread"):
        times = [seconds for run in runs for seconds in run[side + "_runs_s"]]
        merged[side + "_runs_s"] = times
        merged[side + "_s"] = statistics.median(times)
    return merged


def figure_layer(args):
    run = merge_layer_runs(args.input)
    # Every side decompresses the whole stream, so throughputs count its
    # bytes, also those after the tar end marker that the walk leaves out.
    size = run["bytes_inflated"]
    walk_mbps = size / run["walk_s"] / 1e6
    part = {
        "figure": "layer_walk",
        "layer": args.label,
        "bytes_compressed": run["bytes_compressed"],
        "bytes_uncompressed": size,
        "bytes_before_tar_end": run["bytes_uncompressed"],
        "entries": run["entries"],
        "walk_s": run["walk_s"],
        "walk_runs_s": run["walk_runs_s"],
        "walk_mb_per_s": walk_mbps,
        "mb": "10^6 bytes of uncompressed tar stream",
        "baselines": [],
    }
    print("layer walk %s: %.1f MB gzip, %.1f MB tar, %d entries, %.2f s" %
          (args.label, run["bytes_compressed"] / 1e6, size / 1e6,
           run["entries"], run["walk_s"]))
    in_process = [
        "%s=%s" % (name, ",".join(str(int(seconds * 1e9))
                                  for seconds in run[key]))
        for name, key in (("zlib raw inflate", "raw_inflate_runs_s"),
                          ("zlib gzread", "gzread_runs_s"))]
    for baseline in in_process + args.baseline:
        name, runs, reason = parse_baseline(baseline)
        if runs is None:
            part["baselines"].append({"command": name, "skipped": reason})
            print("layer walk %s vs %s: skipped: %s" %
                  (args.label, name, reason))
            continue
        seconds = statistics.median(runs)
        mbps = size / seconds / 1e6
        baseline = {
            "command": name, "s": seconds, "runs_s": runs,
            "mb_per_s": mbps, "ratio": walk_mbps / mbps,
            "ratio_meaning": "walk throughput / baseline throughput",
            "time_ratio": run["walk_s"] / seconds}
        goal = ""
        if name in LAYER_TIME_GOALS:
            baseline["time_ratio_goal"] = "%s %g" % LAYER_TIME_GOALS[name]
            goal = "; walk time %.2fx, %s" % (
                baseline["time_ratio"],
                goal_text(baseline["time_ratio"], LAYER_TIME_GOALS[name]))
        part["baselines"].append(baseline)
        print("layer walk %s: %.0f MB/s vs %s %.0f MB/s -> %.2fx%s" %
              (args.label, walk_mbps, name, mbps, walk_mbps / mbps, goal))
    if args.note:
        part["note"] = args.note
    write_part(args.out, part)


def figure_rescan(args):
    run = read_json(args.input)
    ratio = run["cached_s"] / run["uncached_s"]
    part = {
        "figure": "cached_rescan",
        "image": args.label,
        "status": run["status"],
        "rescan_status": run["rescan_status"],
        "uncached_s": run["uncached_s"],
        "uncached_runs_s": run["uncached_runs_s"],
        "cached_s": run["cached_s"],
        "cached_runs_s": run["cached_runs_s"],
        "uncached_blob_bytes": run["uncached_blob_bytes"],
        "cached_blob_bytes": run["cached_blob_bytes"],
        "ratio": ratio,
        "ratio_meaning": "scan_image() time from the layer cache / time "
                         "of the first, uncached scan",
        "goals": {"ratio": "<= 0.01", "cached_blob_bytes": "0",
                  "cached_s": "< 0.005"},
    }
    print("rescan %s: %s cached vs %s uncached -> %.4fx (%s)" %
          (args.label, duration(run["cached_s"]), duration(run["uncached_s"]),
           ratio, goal_text(ratio, ("<=", 0.01))))
    print("rescan %s: %d blob bytes fetched from the cache vs %d uncached "
          "(goal 0: %s)" %
          (args.label, run["cached_blob_bytes"], run["uncached_blob_bytes"],
           "met" if run["cached_blob_bytes"] == 0 else "NOT met"))
    print("rescan %s: %s from the cache (%s)" %
          (args.label, duration(run["cached_s"]),
           goal_text(run["cached_s"] * 1e3, ("<", 5), " ms")))
    if run["status"] != run["rescan_status"]:
        print("rescan %s: warning: statuses differ: %s then %s" %
              (args.label, run["status"], run["rescan_status"]))
    write_part(args.out, part)


def figure_memory(args):
    small, large = read_json(args.small), read_json(args.large)
    ratio = large["max_rss_bytes"] / small["max_rss_bytes"]
    part = {
        "figure": "scan_memory",
        "small_image": args.small_label,
        "large_image": args.large_label,
        "small": small,
        "large": large,
        "ratio": ratio,
        "ratio_meaning": "peak RSS scanning the large image / peak RSS "
                         "scanning the small one, each in a new process",
        "goal": "<= 1.1",
    }
    print("scan memory: %.1f MiB peak RSS for %s vs %.1f MiB for %s -> "
          "%.2fx (%s)" %
          (large["max_rss_bytes"] / 2**20, args.large_label,
           small["max_rss_bytes"] / 2**20, args.small_label, ratio,
           goal_text(ratio, ("<=", 1.1))))
    print("scan memory: %s scanned in %s (%s)" %
          (args.large_label, duration(large["scan_s"]), large["status"]))
    write_part(args.out, part)


SEEN_GOAL_PER_S = 50000


def read_cpu(path):
    """Read run.sh's CPU file: workers=S, "before/after NAME=S ...", wall=MS.

    Returns (worker seconds, {part: seconds used during the round}, wall s).
    """
    before, after, workers, wall = {}, {}, 0.0, 0.0
    with open(path, encoding="utf-8") as file:
        for line in file:
            words = line.split()
            if not words:
                continue
            if words[0] in ("before", "after"):
                side = before if words[0] == "before" else after
                for word in words[1:]:
                    name, _, seconds = word.partition("=")
                    side[name] = float(seconds)
            elif words[0].startswith("workers="):
                workers = float(words[0].split("=", 1)[1])
            elif words[0].startswith("wall="):
                wall = float(words[0].split("=", 1)[1]) / 1e3
    shared = {name: after[name] - before.get(name, 0.0) for name in after}
    return workers, shared, wall


def committed_rate(run):
    """Messages per second between the first and last commit seen."""
    seconds = (run["last_ms"] - run["first_ms"]) / 1e3
    done = run["last_committed"] - run["first_committed"]
    return (done / seconds if seconds > 0 else 0.0), done, seconds


def cpu_text(workers, shared, wall):
    return "workers %.2f s, redis %.2f s, broker %.2f s, registry %.2f s " \
        "of CPU in %.1f s" % (workers, shared.get("redis", 0.0),
                             shared.get("broker", 0.0),
                             shared.get("registry", 0.0), wall)


def figure_ingest(args):
    run = read_json(args.input)
    rate, done, seconds = committed_rate(run)
    with open(args.baseline, encoding="utf-8") as file:
        text = file.read().split()
    # "SET: 1063829.88 requests per second, ..."
    baseline = float(text[1])
    workers, shared, wall = read_cpu(args.cpu)
    ratio = rate / baseline
    part = {
        "figure": "seen_ingest",
        "events": run["total"],
        "images": args.images,
        "workers": 1,
        "timed_events": done,
        "timed_s": seconds,
        "events_per_s": rate,
        "goal_events_per_s": ">= %d" % SEEN_GOAL_PER_S,
        "baseline": "redis-benchmark -t set -P 16 on the same redis-server",
        "baseline_per_s": baseline,
        "ratio": ratio,
        "ratio_meaning": "events per second / baseline SETs per second",
        "cpu_s": dict(shared, workers=workers),
        "round_s": wall,
    }
    print("seen ingest (%d events, %d images, 1 worker): %.0f events/s vs "
          "redis-benchmark SET -P 16 %.0f/s -> %.3fx (goal >= %d/s: %s)" %
          (run["total"], args.images, rate, baseline, ratio, SEEN_GOAL_PER_S,
           "met" if rate >= SEEN_GOAL_PER_S else "NOT met"))
    print("seen ingest CPU: %s" % cpu_text(workers, shared, wall))
    write_part(args.out, part)


def figure_scans(args):
    runs = []
    for workers, raw, cpu in args.run:
        run = read_json(raw)
        rate, done, seconds = committed_rate(run)
        worker_cpu, shared, wall = read_cpu(cpu)
        runs.append({
            "workers": int(workers),
            "concurrency_each": 2,
            "requests": args.requests,
            "timed_scans": done,
            "timed_s": seconds,
            "scans_per_min": rate * 60,
            "cpu_s": dict(shared, workers=worker_cpu),
            "round_s": wall,
        })
        print("worker scans, %s worker(s): %.0f scans/min; %s" %
              (workers, rate * 60, cpu_text(worker_cpu, shared, wall)))
    part = {
        "figure": "worker_scans",
        "image": "demo, layer cache off (--layer-cache-ttl 0)",
        "runs": runs,
        "baseline": "the same requests with 1 worker",
    }
    if len(runs) == 2 and runs[0]["scans_per_min"] > 0:
        part["ratio"] = runs[1]["scans_per_min"] / runs[0]["scans_per_min"]
        part["ratio_meaning"] = "scans per minute of 2 workers / of 1"
        print("worker scans: 2 workers / 1 worker -> %.2fx" % part["ratio"])
    write_part(args.out, part)


def figure_skip(args):
    print("%s: skipped: %s" % (args.label, args.reason))
    write_part(args.out, {"figure": args.figure, "input": args.label,
                          "skipped": args.reason})


def command_output(command):
    try:
        return subprocess.run(command, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine():
    status = command_output(["git", "status", "--porcelain"])
    return {
        "nproc": int(command_output(["nproc"]) or 0),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "commit": command_output(["git", "rev-parse", "HEAD"]),
        "work_tree_modified": bool(status),
        "optflags": os.environ.get("OPTFLAGS", ""),
    }


def merge(args):
    figures = []
    for path in args.parts:
        part = read_json(path)
        figures.extend(part if isinstance(part, list) else [part])
    results = {"machine": machine(), "figures": figures}
    write_part(args.out, results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="bench_vulndb's output")
    match = commands.add_parser("match", help="bench_match's output")
    layer = commands.add_parser("layer", help="bench_layer_walk's output")
    for command in (db, match):
        command.add_argument("--input", required=True)
    layer.add_argument("--input", required=True, action="append",
                       help="bench_layer_walk output, repeatable")
    for command in (db, match, layer):
        command.add_argument("--out", required=True, help="part to write")
    db.add_argument("--label", required=True, help="the database's name")
    layer.add_argument("--label", required=True, help="the layer's name")
    layer.add_argument("--baseline", action="append", default=[],
                       help="NAME=NS,NS,... or NAME=skip:REASON")
    layer.add_argument("--note", help="what limits this figure")

    rescan = commands.add_parser("rescan", help="bench_scan rescan's output")
    rescan.add_argument("--input", required=True)
    rescan.add_argument("--label", required=True, help="the image's name")
    rescan.add_argument("--out", required=True, help="part to write")

    memory = commands.add_parser("memory", help="two bench_scan memory runs")
    memory.add_argument("--small", required=True)
    memory.add_argument("--small-label", required=True)
    memory.add_argument("--large", required=True)
    memory.add_argument("--large-label", required=True)
    memory.add_argument("--out", required=True, help="part to write")

    ingest = commands.add_parser("ingest", help="one worker's seen drain")
    ingest.add_argument("--input", required=True,
                        help="seen-flood committed's output")
    ingest.add_argument("--baseline", required=True,
                        help="redis-benchmark -q's SET line")
    ingest.add_argument("--cpu", required=True, help="run.sh's CPU file")
    ingest.add_argument("--images", required=True, type=int)
    ingest.add_argument("--out", required=True, help="part to write")

    scans = commands.add_parser("scans", help="scan rounds of N workers")
    scans.add_argument("--run", required=True, action="append", nargs=3,
                       metavar=("WORKERS", "COMMITTED", "CPU"))
    scans.add_argument("--requests", required=True, type=int)
    scans.add_argument("--out", required=True, help="part to write")

    skip = commands.add_parser("skip", help="a figure that could not run")
    skip.add_argument("--figure", required=True,
                      choices=["db_load", "match", "layer_walk",
                               "cached_rescan", "scan_memory",
                               "seen_ingest", "worker_scans"])
    skip.add_argument("--label", required=True, help="the line's name")
    skip.add_argument("--reason", required=True)
    skip.add_argument("--out", required=True)

    merged = commands.add_parser("merge", help="write results.json")
    merged.add_argument("--out", required=True)
    merged.add_argument("parts", nargs="*")

    args = parser.parse_args()
    handlers = {"db": figure_db, "match": figure_match, "layer": figure_layer,
                "rescan": figure_rescan, "memory": figure_memory,
                "ingest": figure_ingest, "scans": figure_scans,
                "skip": figure_skip, "merge": merge}
    handlers[args.command](args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
