"""The weight rule shared by every ...Weights step (FORMAT.md section 5.2)."""
import collections


def identity(pod_name):
    """A pod name less its last two '-' parts (kept whole when it has fewer than three parts)."""
    parts = pod_name.split('-')
    return '-'.join(parts[:-2]) if len(parts) >= 3 else pod_name


def weight_rule(pod_names, backends, requests, tolerance):
    """'' when the samples' distribution satisfies the rule, else why not.

    backends: {identity: expected fraction}; requests: the number of samples the run sent.
    """
    counts = collections.Counter(identity(p) for p in pod_names)
    unknown = sorted(set(counts) - set(backends))
    if unknown:
        return f'replies from unexpected backends {unknown}'
    expected = sum(1 for w in backends.values() if w > 0)
    if len(counts) != expected:
        return f'{len(counts)} distinct backends answered, want {expected}: {dict(counts)}'
    for name, weight in backends.items():
        got = counts.get(name, 0) / requests
        if abs(got - weight) > tolerance:
            return f'{name}: {got:.3f} of the requests, want {weight} +/- {tolerance} ({dict(counts)})'
    return ''
