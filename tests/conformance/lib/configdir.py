"""torii's config directory, and the runner's own copy of every object it applied.

torii watches the config directory; the runner applies an object by writing it to
config/<kind>/<namespace or _cluster>/<name>.yaml, replaces it by rewriting that file and deletes
it by removing the file. Writes are atomic (a file in a staging directory outside the watched
tree, then rename) so torii never reads half a file.

torii takes a written file in asynchronously, so every written object carries the annotation
REVISION_ANNOTATION with a number that grows with each write: once torii reports an object with
that number it has taken the write in (see Suite.settle). Deletions are taken in once torii no
longer reports the object. The annotation only changes metadata, so it never bumps a generation.

The ObjectStore writes through a sink: ConfigDir here, kubeapi.ApiSink in --kube mode. A sink has
handles(kind), write(key, obj, revision), remove(key), waits_for(key, obj) (is the write one torii
takes in, to be waited for?) and taken_in(key, revision, seen).
"""
import copy
import os
import uuid

import yaml

from .kube import TORII_KINDS, fmt_key, key_of

REVISION_ANNOTATION = 'conformance.torii.dev/revision'


class ConfigDir:
    def __init__(self, root, staging):
        self.root = root
        self.staging = staging
        os.makedirs(root, exist_ok=True)
        os.makedirs(staging, exist_ok=True)

    def path(self, key):
        kind, ns, name = key
        return os.path.join(self.root, kind, ns or '_cluster', f'{name}.yaml')

    def write(self, key, obj, revision=None):
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if revision is not None:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault('metadata', {})
            meta['annotations'] = {**(meta.get('annotations') or {}), REVISION_ANNOTATION: str(revision)}
        tmp = os.path.join(self.staging, f'.{uuid.uuid4().hex}.tmp')
        with open(tmp, 'w') as f:
            yaml.safe_dump(obj, f, sort_keys=False, default_flow_style=False)
        os.rename(tmp, path)

    def remove(self, key):
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            pass

    @staticmethod
    def handles(kind):
        return kind in TORII_KINDS

    @staticmethod
    def waits_for(key, obj):
        return key[0] in TORII_KINDS

    @staticmethod
    def taken_in(key, revision, seen):
        """Does torii's copy `seen` of the object hold the write of `revision`?"""
        return ((seen.get('metadata') or {}).get('annotations') or {}).get(REVISION_ANNOTATION) == str(revision)


class ObjectStore:
    """Every object the runner applied, by key; those of the kinds the sink handles are written
    through it (TORII_KINDS to the config dir; in --kube mode every kind the API server serves).

    The suite set-up's objects are snapshotted as the base; each case records the keys it
    touched so that cleanup can restore the base version or delete the object.
    """

    def __init__(self, sink, on_change=None):
        self.sink = sink
        self.objects = {}
        self.base = {}
        self.touched = set()
        self.on_change = on_change   # called with the key after every change (pods / slices upkeep)
        self.revision = 0
        self.pending = {}            # key -> revision written, or None when deleted; not yet seen in torii
                                     # (only writes torii takes in: sink.waits_for)

    def get(self, key):
        return self.objects.get(key)

    def of_kind(self, kind, namespace=None):
        return [o for (k, ns, _), o in sorted(self.objects.items())
                if k == kind and (namespace is None or ns == namespace)]

    def put(self, obj, track=True):
        """Create or replace an object."""
        key = key_of(obj)
        obj = copy.deepcopy(obj)
        if self.sink.handles(key[0]):
            self.revision += 1
            self.sink.write(key, obj, self.revision)
            if self.sink.waits_for(key, obj):
                self.pending[key] = self.revision
        self.objects[key] = obj
        if track:
            self.touched.add(key)
        if self.on_change:
            self.on_change(key)
        return key

    def delete(self, key, track=True):
        if key not in self.objects:
            raise KeyError(f'{fmt_key(key)} was never applied')
        if self.sink.handles(key[0]):
            self.sink.remove(key)
            if self.sink.waits_for(key, self.objects[key]):
                self.pending[key] = None
        del self.objects[key]
        if track:
            self.touched.add(key)
        if self.on_change:
            self.on_change(key)

    def acknowledge(self, items, waited_kinds):
        """Drop the pending writes torii's object list shows taken in; returns those still pending
        among the kinds waited for (kinds torii does not report cannot be acknowledged)."""
        seen = {key_of(obj): obj for obj in items}
        for key, rev in list(self.pending.items()):
            if (rev is None and key not in seen) or \
                    (rev is not None and key in seen and self.sink.taken_in(key, rev, seen[key])):
                del self.pending[key]
        return [k for k in self.pending if k[0] in waited_kinds]

    def snapshot_base(self):
        self.base = copy.deepcopy(self.objects)
        self.touched = set()

    def restore_base(self):
        """Undo a case: delete what it made, put back the base version of what it changed."""
        for key in sorted(self.touched):
            if key in self.base:
                if self.objects.get(key) != self.base[key]:
                    self.put(self.base[key], track=False)
            elif key in self.objects:
                self.delete(key, track=False)
        self.touched = set()
