"""The waiting rules of FORMAT.md section 2: re-evaluate until held, fatal, or the budget passes."""
import time

from .status import Outcome

# Default budgets in seconds (FORMAT.md section 3).
LONG = 180.0      # gatewayClassAccepted, conditionPresent, gatewayAddress, statusAddresses, Gateway/ListenerSet condition
READY = 300.0     # namespacesReady, meshNamespacesReady
DEFAULT = 60.0    # everything else, and the route and listener waits inside `accepted`

BUDGETS = {
    'gatewayClassAccepted': LONG, 'conditionPresent': LONG, 'gatewayAddress': LONG, 'statusAddresses': LONG,
    'namespacesReady': READY, 'meshNamespacesReady': READY,
}


def until_all(items, ready, timeout_s, pause_s):
    """Asks ready(item) of every item not yet ready, pause_s apart, until all are or timeout_s
    passed; returns those that are not."""
    deadline = time.monotonic() + timeout_s
    pending = list(items)
    while pending and time.monotonic() < deadline:
        pending = [i for i in pending if not ready(i)]
        if pending:
            time.sleep(pause_s)
    return pending


def default_budget(step_type, body):
    if step_type == 'condition' and body.get('kind') in ('Gateway', 'ListenerSet') and 'listener' not in body:
        return LONG
    return BUDGETS.get(step_type, DEFAULT)


class Waiter:
    """Runs evaluations under a step's waiting options (once, timeout) and the --timeout-scale."""

    def __init__(self, scale=1.0, clock=time.monotonic, sleep=time.sleep):
        self.scale = scale
        self.clock = clock
        self.sleep = sleep

    def budget(self, body, default):
        return float(body.get('timeout', default)) * self.scale

    def wait(self, evaluate, body, default, interval=0.1):
        """evaluate(state) -> Outcome, with state a dict kept across reads ('first' on the first one).

        Errors raised by evaluate (torii unreachable) count as a read that does not hold.
        """
        once = bool(body.get('once'))
        budget = self.budget(body, default)
        deadline = self.clock() + budget
        state = {'first': True}
        while True:
            try:
                out = evaluate(state)
            except Exception as e:     # noqa: BLE001 - reported as the step's reason
                out = Outcome(False, f'{type(e).__name__}: {e}', fatal=getattr(e, 'fatal', False))
            state['first'] = False
            if out.held or out.fatal:
                return out
            if once:
                return Outcome(False, out.why)
            if self.clock() + interval > deadline:
                return Outcome(False, f'after {budget:g} s: {out.why}')
            self.sleep(interval)
