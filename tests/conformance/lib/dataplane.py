"""Traffic steps (FORMAT.md sections 5 and 6) and the backends that answer them.

This is the single place where echo backends (tools/echo) will be started for the made-up Pods
and where traffic steps will be played. For now:
- with --status-only, traffic steps are not run (they count as held);
- otherwise every traffic step fails: the data plane side of the runner is not written yet.
"""
from .status import Outcome

TRAFFIC_STEPS = {
    'http', 'httpWeights', 'httpNot200', 'httpsRequestError', 'httpRetry', 'httpHeaderMatchesPod',
    'httpMirrorPercentage', 'websocket', 'grpc', 'grpcWeights', 'tlsRejected', 'tcp', 'tcpWeights', 'udp',
    'udpWeights', 'mesh', 'meshWeights',
}

NOT_IMPLEMENTED = 'traffic steps need the data plane (not implemented)'


class DataPlane:
    def __init__(self, status_only, certs, workdir):
        self.status_only = status_only
        self.certs = certs          # certs.CertStore: server/client certificates for TLS steps
        self.workdir = workdir

    def start_backends(self, pods):
        """Start (or stop) echo servers so that exactly these Pods are served. Not written yet:
        the made-up Pods only exist in the runner and in the EndpointSlices it writes."""

    def serving(self, pod):
        """Whether a Pod counts as Ready (namespacesReady part b). With --status-only every made-up
        Pod is; until backends exist the same holds otherwise, and traffic steps fail instead."""
        return True

    def run(self, step_type, body, ctx):
        """Play one traffic step; ctx gives the remembered Gateway addresses and the Pods."""
        if self.status_only:
            return Outcome(True, 'not run (--status-only)')
        return Outcome(False, NOT_IMPLEMENTED, fatal=True)

    def stop(self):
        pass
