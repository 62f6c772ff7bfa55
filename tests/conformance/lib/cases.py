"""Loading the conformance cases (FORMAT.md section 1) and the manifests they name."""
import dataclasses
import glob
import os

import yaml

MESH_PROFILES = {'MESH-HTTP', 'MESH-GRPC'}


@dataclasses.dataclass
class Case:
    name: str
    path: str
    features: list
    profiles: list
    base: str
    manifests: list
    provisional: bool
    secrets: list
    steps: list
    description: str = ''
    address_pools: dict = None
    raw: dict = None           # the whole document (for _base.yaml: gatewayClassName, mesh, ...)
    own: bool = False          # one of this project's cases (tests/conformance/cases), not upstream's

    @property
    def is_mesh(self):
        """A case of the mesh part of the suite: its base is mesh, or all its profiles are MESH-*."""
        return self.base == 'mesh' or (bool(self.profiles) and set(self.profiles) <= MESH_PROFILES)


class CaseError(Exception):
    pass


def _check(cond, path, msg):
    if not cond:
        raise CaseError(f'{os.path.basename(path)}: {msg}')


def load_case(path):
    """Load one case file, checking the structure the runner relies on (validate.py checks more)."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    _check(isinstance(doc, dict), path, 'not a mapping')
    for key in ('name', 'features', 'profiles', 'base', 'manifests', 'steps'):
        _check(key in doc, path, f'missing {key}')
    steps = doc['steps']
    _check(isinstance(steps, list), path, 'steps is not a list')
    for i, step in enumerate(steps + (doc.get('mesh') or {}).get('steps', [])):
        _check(isinstance(step, dict) and len(step) == 1, path, f'step {i + 1} is not a one-key mapping')
        (_, body), = step.items()
        _check(isinstance(body, dict), path, f'step {i + 1} has no mapping body')
    return Case(
        name=doc['name'], path=path, features=list(doc['features']), profiles=list(doc['profiles']),
        base=doc['base'], manifests=list(doc['manifests']), provisional=bool(doc.get('provisional')),
        secrets=list(doc.get('secrets') or []), steps=steps, description=doc.get('description', ''),
        address_pools=doc.get('addressPools'), raw=doc)


def load_cases(cases_dir, own_dir=None):
    """(base, [cases sorted by name]) from a cases directory, plus this project's own cases from
    own_dir when given. Own cases follow FORMAT.md too and validate.py checks them: they play on
    the suite's set-up (no _base.yaml of their own), name upstream manifests only, and bring
    objects of their own with `create` steps."""
    base = load_case(os.path.join(cases_dir, '_base.yaml'))
    cases = []
    for path in sorted(glob.glob(os.path.join(cases_dir, '*.yaml'))):
        if os.path.basename(path) != '_base.yaml':
            cases.append(load_case(path))
    if own_dir and os.path.isdir(own_dir):
        names = {c.name for c in cases}
        for path in sorted(glob.glob(os.path.join(own_dir, '*.yaml'))):
            c = load_case(path)
            _check(c.name not in names, path, f'{c.name} is an upstream case name')
            _check(c.name == os.path.splitext(os.path.basename(path))[0], path, 'name differs from the file name')
            c.own = True
            cases.append(c)
        cases.sort(key=lambda c: c.name)
    return base, cases


def select(cases, names=(), profiles=()):
    """The cases named (all when none), restricted to those in one of the profiles (if any)."""
    out = cases
    if names:
        known = {c.name for c in cases}
        missing = [n for n in names if n not in known]
        if missing:
            raise CaseError(f'unknown case(s): {", ".join(missing)}')
        out = [c for c in out if c.name in set(names)]
    if profiles:
        out = [c for c in out if set(c.profiles) & set(profiles)]
    return out


def load_manifest(manifests_dir, rel):
    """The objects of one manifest file (multi-document YAML), empty documents dropped."""
    with open(os.path.join(manifests_dir, rel)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def step_type(step):
    """(type, body) of a one-key step mapping."""
    (kind, body), = step.items()
    return kind, body
