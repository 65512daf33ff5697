"""Command line of the services harness: up, down, status, pin, create-topic.

`up` starts every service in the run named "up" (state in .services/up.json), prints the endpoints
and the `export VAR=...` lines of the `dev` environment of examples/shop, and leaves the services
running (`up --exports`: only the export lines on stdout, for `eval`, also when already up);
`down` stops them (and whatever another run recorded); `status` shows what runs;
`create-topic NAME [PARTITIONS]` creates a topic on $KAFKA_BOOTSTRAP (auto-creation is off).
"""
import concurrent.futures
import json
import os
import shlex
import sys
import time

from tests.services import harness


def _exports(env, out):
    for k in sorted(env):
        out.write("export %s=%s\n" % (k, shlex.quote(env[k])))


def _up(out, exports_only=False):
    """Start everything.  ``exports_only``: progress goes to stderr and stdout gets only the
    `export` lines, so that `eval "$(python3 -m tests.services up --exports)"` works; when the
    services are already up it prints the recorded lines again and succeeds."""
    state_file = os.path.join(harness.STATE_DIR, "up.json")
    exports_out = out
    if exports_only:
        out = sys.stderr
    if os.path.exists(state_file):
        if exports_only:
            with open(state_file) as f:
                env = json.load(f).get("endpoints", {}).get("env")
            if env:
                out.write("services are already up; their export lines are on stdout\n")
                _exports(env, exports_out)
                return 0
        out.write("services are already up (make services-down first); status:\n")
        _status(out)
        return 1
    t0 = time.time()
    run = harness.Run("up", detached=False)
    timings = {}

    def timed(name, fn, *args):
        t = time.time()
        svc = fn(run, *args)
        timings[name] = round(time.time() - t, 1)
        out.write("  %s ready (%.1f s)\n" % (name, timings[name]))
        out.flush()
        return svc

    # Everything that does not need the broker starts alongside it; Connect waits for Kafka.
    # Flink's cluster needs no broker to start: jobs get its address later.
    out.write("starting kafka, tansu, flink and the fakes in parallel, then connect ...\n")
    out.flush()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=6)
    try:
        f_kafka = pool.submit(timed, "kafka", harness.start_kafka)
        f_flink = pool.submit(timed, "flink", harness.start_flink, None)
        f_tansu = pool.submit(timed, "tansu", harness.start_tansu)
        f_sr = pool.submit(timed, "schema_registry", harness.start_schema_registry)
        f_gw = pool.submit(timed, "conduktor_gateway", harness.start_gateway)
        kafka = f_kafka.result()
        connect = timed("connect", harness.start_connect, kafka)
        flink, sr = f_flink.result(), f_sr.result()
        f_tansu.result(), f_gw.result()
        flink.kafka_bootstrap = kafka.bootstrap
        run.endpoints["flink"] = flink.describe()
    except BaseException as e:
        out.write("FAILED: %s\n" % e)
        run.stop()
        pool.shutdown(wait=True)
        run.stop()
        return 1
    pool.shutdown(wait=True)
    run.detached = True  # leave the processes running after this command exits (`down` stops them)
    env = harness.dev_env(kafka, sr, flink, connect)
    run.endpoints["env"] = env
    run.endpoints["timings_s"] = dict(timings, total=round(time.time() - t0, 1))
    run.save()
    out.write("\nall services up in %.1f s\n" % (time.time() - t0))
    _status(out)
    if exports_only:
        _exports(env, exports_out)
        return 0
    out.write("\n# the dev environment of examples/shop:\n")
    _exports(env, out)
    return 0


def _status(out):
    import glob
    states = sorted(glob.glob(os.path.join(harness.STATE_DIR, "*.json")))
    if not states:
        out.write("no services recorded in %s\n" % harness.STATE_DIR)
        return 0
    total = 0
    for path in states:
        with open(path) as f:
            state = json.load(f)
        out.write("run %s (%s)\n" % (state["run"], state["dir"]))
        for p in state["processes"]:
            alive = harness._carries_marker(p["pid"], state["marker"])
            rss = harness.rss_mb(p["pid"]) if alive else 0
            total += rss
            out.write("  %-22s pid %-7d %-7s %5d MB  log %s\n" % (p["name"], p["pid"], "running" if alive else "GONE",
                                                               rss, p["log"]))
        for name, ep in sorted(state.get("endpoints", {}).items()):
            if name not in ("env",):
                out.write("  %s: %s\n" % (name, json.dumps(ep, sort_keys=True)))
    out.write("total RSS %d MB\n" % total)
    return 0


def _create_topic(argv, out):
    """`create-topic NAME [PARTITIONS]` on $KAFKA_BOOTSTRAP (auto-creation is off on the harness
    broker): the topics a project reads but does not own, e.g. the source of `streamt init`."""
    if not argv or len(argv) > 2 or (len(argv) == 2 and not argv[1].isdigit()):
        sys.stderr.write("usage: python -m tests.services create-topic NAME [PARTITIONS]\n")
        return 2
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    if not bootstrap:
        sys.stderr.write("KAFKA_BOOTSTRAP is not set: eval \"$(python -m tests.services up --exports)\" first\n")
        return 2
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="tests.services")
    try:
        admin.create_topics([NewTopic(argv[0], int(argv[1]) if len(argv) == 2 else 1, 1)])
        out.write("created topic %s on %s\n" % (argv[0], bootstrap))
    except TopicAlreadyExistsError:
        out.write("topic %s already exists on %s\n" % (argv[0], bootstrap))
    finally:
        admin.close()
    return 0


def main(argv):
    cmd = argv[0] if argv else "status"
    out = sys.stdout
    if cmd == "up":
        return _up(out, exports_only="--exports" in argv[1:])
    if cmd == "down":
        harness.down(out, everything="--all" in argv[1:])
        return 0
    if cmd == "status":
        return _status(out)
    if cmd == "create-topic":
        return _create_topic(argv[1:], out)
    if cmd == "pin":
        harness._pin(out)
        return 0
    sys.stderr.write("usage: python -m tests.services up [--exports]|down [--all]|status|pin|create-topic NAME [PARTITIONS]\n")
    return 2
