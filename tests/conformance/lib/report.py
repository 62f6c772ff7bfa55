"""The upstream ConformanceReport (conformance/apis/v1) written by --report."""
import datetime

import yaml

GATEWAY_API_VERSION = 'v1.6.1'
GATEWAY_API_CHANNEL = 'experimental'
# The project's domain, as in its controller name torii.dev/gateway-controller.
IMPLEMENTATION = {'organization': 'torii', 'project': 'torii', 'url': 'https://torii.dev',
                  'contact': ['https://torii.dev']}

# Core features of each profile (upstream conformance/utils/suite/profiles.go); every other
# feature a profile's tests use is one of its extended features.
CORE_FEATURES = {
    'GATEWAY-HTTP': {'Gateway', 'ReferenceGrant', 'HTTPRoute'},
    'GATEWAY-TLS': {'Gateway', 'ReferenceGrant', 'TLSRoute'},
    'GATEWAY-TCP': {'Gateway', 'TCPRoute'},
    'GATEWAY-UDP': {'Gateway', 'UDPRoute'},
    'GATEWAY-GRPC': {'Gateway', 'ReferenceGrant', 'GRPCRoute'},
    'MESH-HTTP': {'Mesh', 'HTTPRoute'},
    'MESH-GRPC': {'Mesh', 'GRPCRoute'},
}


def extended_features(all_cases):
    """{profile: extended feature names}, from the features of the cases listed in each profile.

    Upstream lists them in pkg/features; the case files carry the same information for every
    feature that some test needs.
    """
    out = {}
    for c in all_cases:
        if c.own:
            continue
        for p in c.profiles:
            out.setdefault(p, set()).update(set(c.features) - CORE_FEATURES.get(p, set()))
    return out


def is_extended(profile, case):
    """Upstream's isTestExtended: any feature outside the profile's core makes the test extended."""
    return any(f not in CORE_FEATURES.get(profile, set()) for f in case.features)


def _result(stats):
    if stats['Failed']:
        return 'failure'
    if stats['Skipped']:
        return 'partial'
    return 'success'


def _summary(status):
    r = status['result']
    if r == 'success':
        return 'succeeded'
    if r == 'partial':
        return f'partially succeeded with {status["statistics"]["Skipped"]} test skips'
    return f'failed with {status["statistics"]["Failed"]} test failures'


def build(results, cases, all_cases, supported, version, profiles=(), now=None):
    """The report as a dict. results: {case name: player.Result}; cases: the selected cases.

    Cases skipped for a feature torii does not claim are upstream's NOT_SUPPORTED: they are not
    counted. A profile appears when asked for with --profile, or when some test of it was counted.
    """
    ext_features = extended_features(all_cases)
    reports = {}
    for case in cases:
        res = results.get(case.name)
        # The upstream report counts upstream's tests only; this project's own cases are not in it.
        if res is None or res.unsupported or case.own:
            continue
        for p in case.profiles:
            if profiles and p not in profiles:
                continue
            rep = reports.setdefault(p, {'name': p, 'core': {'statistics': {'Failed': 0, 'Passed': 0, 'Skipped': 0}}})
            if is_extended(p, case):
                part = rep.setdefault('extended', {'statistics': {'Failed': 0, 'Passed': 0, 'Skipped': 0}})
            else:
                part = rep['core']
            field, listed = {'PASS': ('Passed', None), 'FAIL': ('Failed', 'failedTests'),
                             'SKIP': ('Skipped', 'skippedTests')}[res.outcome]
            part['statistics'][field] += 1
            if listed:
                part.setdefault(listed, []).append(case.name)
    for p in profiles:
        reports.setdefault(p, {'name': p, 'core': {'statistics': {'Failed': 0, 'Passed': 0, 'Skipped': 0}}})
    out_profiles = []
    for p in sorted(reports):
        rep = reports[p]
        rep['core']['result'] = _result(rep['core']['statistics'])
        summary = f'Core tests {_summary(rep["core"])}'
        if 'extended' in rep:
            ext = rep['extended']
            ext['result'] = _result(ext['statistics'])
            feats = ext_features.get(p, set())
            ext['supportedFeatures'] = sorted(feats & supported)
            ext['unsupportedFeatures'] = sorted(feats - supported)
            summary += f'. Extended tests {_summary(ext)}'
        rep['summary'] = summary + '.'
        out_profiles.append(rep)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {
        'apiVersion': 'gateway.networking.k8s.io/v1',
        'kind': 'ConformanceReport',
        'implementation': {**IMPLEMENTATION, 'version': version},
        'date': now.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'gatewayAPIVersion': GATEWAY_API_VERSION,
        'gatewayAPIChannel': GATEWAY_API_CHANNEL,
        'mode': 'default',
        'profiles': out_profiles,
        'succeededProvisionalTests': sorted(c.name for c in cases
                                            if c.provisional and getattr(results.get(c.name), 'outcome', '') == 'PASS'),
    }


def write(path, report):
    # Keys sorted, as upstream's report writer (sigs.k8s.io/yaml) emits them.
    with open(path, 'w') as f:
        yaml.safe_dump(report, f, sort_keys=True, default_flow_style=False)
