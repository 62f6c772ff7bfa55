"""Checks of the fake API server with the official Python client (python3-kubernetes 22.6
from Debian). Run by tests/kube/run under /usr/bin/python3, the interpreter Debian
installs the client for: pyclient_checks.py STATE_DIR. Prints `ok NAME` or `FAIL NAME: why`
per check."""
import datetime
import json
import os
import ssl
import sys
import threading
import time
import traceback
import urllib.request

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

STATE = sys.argv[1]
config.load_kube_config(config_file=os.path.join(STATE, "kubeconfig"))
core = client.CoreV1Api()
custom = client.CustomObjectsApi()
coord = client.CoordinationV1Api()
G, V = "gateway.networking.k8s.io", "v1"
NS = "pyclient"


def control(name, body=None):
    with open(os.path.join(STATE, "url")) as f:
        url = f.read().strip()
    ctx = ssl.create_default_context(cafile=os.path.join(STATE, "ca.crt")) if url.startswith("https") else None
    req = urllib.request.Request(f"{url}/_fake/{name}", data=json.dumps(body or {}).encode(), method="POST")
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read())


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def expect(cond, why):
    if not cond:
        raise AssertionError(why)


@check
def py_list_paging():
    for i in range(7):
        core.create_namespaced_config_map(NS, {"metadata": {"name": f"page-{i}"}, "data": {"i": str(i)}})
    pages, names = 0, []
    r = core.list_namespaced_config_map(NS, limit=3)
    while True:
        pages += 1
        names += [x.metadata.name for x in r.items]
        if not r.metadata._continue:
            break
        r = core.list_namespaced_config_map(NS, limit=3, _continue=r.metadata._continue)
    expect(pages == 3 and names == [f"page-{i}" for i in range(7)], f"{pages} pages: {names}")
    first = core.list_namespaced_config_map(NS, limit=2)
    control("expire-continue")
    try:
        core.list_namespaced_config_map(NS, limit=2, _continue=first.metadata._continue)
        raise AssertionError("an expired continue token was accepted")
    except ApiException as e:
        body = json.loads(e.body)
        expect(e.status == 410 and body["reason"] == "Expired", f"{e.status} {body}")
        rest = core.list_namespaced_config_map(NS, _continue=body["metadata"]["continue"])
        expect([x.metadata.name for x in rest.items] == [f"page-{i}" for i in range(2, 7)],
               "the inconsistent continue token does not list the rest")


@check
def py_watch_and_410():
    lst = core.list_namespaced_config_map(NS)
    w = watch.Watch()
    seen = []

    def later():
        time.sleep(0.3)
        core.patch_namespaced_config_map("page-1", NS, {"data": {"i": "changed"}})
        time.sleep(0.3)
        core.delete_namespaced_config_map("page-2", NS)

    threading.Thread(target=later).start()
    for ev in w.stream(core.list_namespaced_config_map, NS, resource_version=lst.metadata.resource_version,
                       _request_timeout=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    expect(seen == [("MODIFIED", "page-1"), ("DELETED", "page-2")], f"events {seen}")
    old = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "after-list"}})
    control("compact")
    try:
        for ev in watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=old,
                                       _request_timeout=10):
            raise AssertionError(f"an event from a compacted RV: {ev['type']}")
        raise AssertionError("the watch ended without an error")
    except ApiException as e:
        expect(e.status == 410 and "too old resource version" in str(e.reason), f"{e.status} {e.reason}")


@check
def py_custom_status_patch():
    custom.create_namespaced_custom_object(G, V, NS, "httproutes", {
        "apiVersion": f"{G}/{V}", "kind": "HTTPRoute", "metadata": {"name": "route"},
        "spec": {"parentRefs": [{"name": "gw"}]}})
    status = {"parents": [{"parentRef": {"name": "gw"}, "controllerName": "example.com/ctl", "conditions": [
        {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
         "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}]}
    o = custom.patch_namespaced_custom_object_status(G, V, NS, "httproutes", "route", {
        "spec": {"hostnames": ["ignored.example"]}, "status": status})
    expect(o["status"]["parents"][0]["conditions"][0]["type"] == "Accepted", f"status {o.get('status')}")
    expect("hostnames" not in o["spec"], "a status patch changed the spec")
    expect(o["metadata"]["generation"] == 1, f"generation {o['metadata']['generation']} after a status write")
    o = custom.patch_namespaced_custom_object(G, V, NS, "httproutes", "route", {"spec": {"hostnames": ["a.example"]},
                                                                               "status": {"parents": []}})
    expect(o["metadata"]["generation"] == 2, "a spec change did not move generation")
    expect(len(o["status"]["parents"]) == 1, "a main-resource patch changed status")


@check
def py_lease_microtime_and_conflict():
    now = datetime.datetime.now(datetime.timezone.utc)
    lease = client.V1Lease(metadata=client.V1ObjectMeta(name="leader"), spec=client.V1LeaseSpec(
        holder_identity="a", lease_duration_seconds=15, acquire_time=now, renew_time=now, lease_transitions=0))
    created = coord.create_namespaced_lease(NS, lease)
    raw = coord.api_client.call_api(f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/leader", "GET",
                                    auth_settings=["BearerToken"], _preload_content=False)[0]
    spec = json.loads(raw.data)["spec"]
    expect(len(spec["renewTime"]) == 27 and spec["renewTime"].endswith("Z") and spec["renewTime"][19] == ".",
           f"renewTime {spec['renewTime']!r} is not a MicroTime")
    created.spec.holder_identity = "b"
    created.spec.lease_transitions = 1
    replaced = coord.replace_namespaced_lease("leader", NS, created)
    expect(replaced.spec.holder_identity == "b", "replace did not change the holder")
    expect(replaced.metadata.resource_version != created.metadata.resource_version, "RV did not move")
    try:
        coord.replace_namespaced_lease("leader", NS, created)  # still carries the old RV
        raise AssertionError("a stale replace succeeded")
    except ApiException as e:
        body = json.loads(e.body)
        expect(e.status == 409 and body["reason"] == "Conflict" and "has been modified" in body["message"],
               f"{e.status} {body}")


def main():
    core.create_namespace({"metadata": {"name": NS}})
    failed = 0
    for fn in CHECKS:
        try:
            fn()
            print(f"ok {fn.__name__}", flush=True)
        except Exception as e:  # report and go on
            failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(f"FAIL {fn.__name__}: {detail}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
