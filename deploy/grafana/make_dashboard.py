#!/usr/bin/env python3
"""Writes deploy/grafana/hobbit-dashboard.json (Grafana's classic JSON model) to stdout.

Usage: python3 deploy/grafana/make_dashboard.py > deploy/grafana/hobbit-dashboard.json

The dashboard uid (hobbit-overview) and the datasource uid (hobbit-prometheus, provisioned by
provisioning/datasources/hobbit.yaml) are fixed so links and provisioning stay stable. Every
expression must return data against a real Prometheus scraping hobbitd:
tests/integration/metrics_test.cc checks that.
"""
import json

DS = {"type": "prometheus", "uid": "hobbit-prometheus"}
R = "$__rate_interval"  # the test substitutes a fixed window
panels = []
y = 0  # grid row of the panels being laid out
col = 0  # grid column of the next panel
pid = 0


def nid():
    global pid
    pid += 1
    return pid


def row(title):
    global y
    panels.append({"id": nid(), "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1


def panel(title, targets, unit="short", ptype="timeseries", desc="", w=8, extra=None):
    global y, col
    if col + w > 24:
        col = 0
        y += 8
    p = {"id": nid(), "type": ptype, "title": title, "description": desc, "datasource": DS,
         "gridPos": {"h": 8, "w": w, "x": col, "y": y},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                     "tooltip": {"mode": "multi", "sort": "none"}},
         "targets": [dict(datasource=DS, refId=chr(ord('A') + i), **t) for i, t in enumerate(targets)]}
    if extra: p.update(extra)
    panels.append(p)
    col += w


def endrow():
    global y, col
    y += 8
    col = 0


def q(expr, legend):
    return {"expr": expr, "legendFormat": legend, "range": True}


def pct(metric):
    return [q(f"histogram_quantile({p}, sum by (le) (rate({metric}_bucket[{R}])))", f"p{int(p*100)}")
            for p in (0.5, 0.9, 0.99)]


row("Requests")
panel("Request rate by status code", [q(f"sum by (code) (rate(hobbit_requests_total[{R}]))", "{{code}}")], "reqps",
      desc="Generate calls finished per second, by gRPC status code.")
panel("Finish reasons", [q(f"sum by (finish_reason) (rate(hobbit_requests_finished_total[{R}]))", "{{finish_reason}}")], "reqps",
      desc="Requests that reached the engine's final event, by finish reason.")
panel("Running and waiting", [q("sum(hobbit_requests_running)", "running"), q("sum(hobbit_requests_waiting)", "waiting")], "short",
      desc="Sequences in the running batch and requests queued for admission.")
panel("Request latency", pct("hobbit_request_duration_seconds"), "s", desc="Submit to final event.")
panel("Time to first token", pct("hobbit_time_to_first_token_seconds"), "s", desc="Submit to first generated token.")
panel("Inter-token latency", pct("hobbit_inter_token_latency_seconds"), "s",
      desc="Per request: mean time between generated tokens after the first.")
panel("Token throughput", [q(f"sum(rate(hobbit_prompt_tokens_total[{R}]))", "prompt"),
                           q(f"sum(rate(hobbit_generated_tokens_total[{R}]))", "generated")], "short",
      desc="Tokens per second prefilled and generated.")
panel("Queue time", pct("hobbit_queue_duration_seconds"), "s", desc="Submit to first scheduled.")
panel("KV cache usage", [q("max(hobbit_kv_cache_usage_ratio)", "used")], "percentunit",
      desc="Share of KV-cache blocks in use.", extra={"fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1}, "overrides": []}})
endrow()
row("Expert cache")
panel("Hit rate by pool", [
    q(f"sum by (pool) (rate(hobbit_expert_hits_total[{R}])) / ignoring (pool) group_left sum(rate(hobbit_expert_lookups_total[{R}]))", "{{pool}}"),
    q(f"sum(rate(hobbit_expert_hits_total[{R}])) / sum(rate(hobbit_expert_lookups_total[{R}]))", "all")], "percentunit",
      desc="Expert lookups served by a resident copy, by the pool that held it (high or low precision).")
panel("Misses by decision", [q(f"sum by (decision) (rate(hobbit_expert_misses_total[{R}]))", "{{decision}}"),
                             q(f"sum(rate(hobbit_expert_misses_host_total[{R}]))", "of which on the CPU")], "short",
      desc="Non-resident lookups per second by what the loader did: copied high, copied low, skipped; "
           "and how many of the high and low ones ran on the CPU instead of being copied (experts.cpu_path).")
panel("Bytes over the link", [q(f"sum by (reason) (rate(hobbit_expert_bytes_loaded_total[{R}]))", "{{reason}}")], "Bps",
      desc="Expert bytes copied host to device per second, on demand and by the prefetcher.")
panel("Prefetch outcomes", [q(f"sum by (outcome) (rate(hobbit_prefetch_total[{R}]))", "{{outcome}}"),
                            q(f"sum(rate(hobbit_prefetch_issued_total[{R}]))", "issued")], "short",
      desc="Prefetches issued, used, wasted (evicted unused) and late (used but unfinished).")
panel("Expert load wait", [q(f"sum(rate(hobbit_expert_load_wait_seconds_total[{R}]))", "wait")], "percentunit",
      desc="Seconds per second the layers waited for expert copies.")
panel("Expert cache occupancy", [q("sum by (pool) (hobbit_expert_cache_used_bytes)", "{{pool}} used"),
                                 q("sum by (pool) (hobbit_expert_cache_capacity_bytes)", "{{pool}} capacity")], "bytes",
      desc="Device bytes holding cached experts and the size of each pool.")
panel("Per-sequence hit ratio", [{"expr": f"sum by (le) (increase(hobbit_sequence_hit_ratio_bucket[{R}]))",
                                  "legendFormat": "{{le}}", "format": "heatmap", "range": True}], "short", ptype="heatmap",
      desc="Hit ratio of each finished sequence.",
      extra={"options": {"calculate": False, "yAxis": {"unit": "percentunit"}, "cellGap": 1,
                         "color": {"mode": "scheme", "scheme": "Oranges"}, "tooltip": {"show": True, "yHistogram": False},
                         "legend": {"show": True}}})
panel("Per-sequence low-precision share", pct("hobbit_sequence_low_precision_share")[:2], "percentunit",
      desc="Share of each finished sequence's lookups served in low precision.")
panel("Per-sequence bytes per token", pct("hobbit_sequence_expert_bytes_per_token")[:2], "bytes",
      desc="Expert bytes copied per processed token, per finished sequence.")
panel("Build", [{"expr": "hobbit_build_info", "legendFormat": "{{version}}", "instant": True, "format": "table"}], "short", ptype="table",
      desc="Version of each scraped hobbitd.", extra={"options": {"showHeader": True}})
endrow()
row("Decode on the GPU")
panel("CUDA graphs", [q(f"sum(rate(hobbit_decode_graph_replays_total[{R}]))", "steps replayed"),
                      q(f"sum by (outcome) (rate(hobbit_decode_graph_recordings_total[{R}]))", "recordings {{outcome}}")],
      "short",
      desc="engine.cuda_graphs: decode steps run by replaying a recorded graph, and recordings made or failed "
           "(a failed step shape runs directly). Zero on the CPU backend and in the offloading modes.")
endrow()

dash = {
    "uid": "hobbit-overview", "title": "hobbit", "description": "hobbitd serving and expert-cache metrics",
    "tags": ["hobbit", "llm"], "timezone": "utc", "editable": True, "graphTooltip": 1,
    "schemaVersion": 37, "version": 1, "refresh": "30s",
    "time": {"from": "now-1h", "to": "now"}, "templating": {"list": []}, "annotations": {"list": []},
    "links": [], "panels": panels,
}
print(json.dumps(dash, indent=2))
