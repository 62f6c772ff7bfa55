"""RBAC authorization over the ClusterRole/Role/binding objects in the store
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/).

Users in group system:masters bypass it, as in kube-apiserver. Discovery, /version and
OpenAPI are open to every authenticated user (the system:discovery and
system:public-info-viewer bootstrap roles).
"""

PUBLIC = ("/api", "/apis", "/version", "/openapi", "/healthz", "/livez", "/readyz")


def _subject_matches(subj, user, groups, binding_ns):
    kind = subj.get("kind")
    if kind == "User":
        return subj.get("name") == user
    if kind == "Group":
        return subj.get("name") in groups
    if kind == "ServiceAccount":
        ns = subj.get("namespace") or binding_ns
        return user == f"system:serviceaccount:{ns}:{subj.get('name')}"
    return False


def _rule_allows(rule, a):
    verbs = rule.get("verbs") or []
    if "*" not in verbs and a["verb"] not in verbs:
        return False
    if a.get("path") is not None:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == a["path"] or (url.endswith("*") and a["path"].startswith(url[:-1])):
                return True
        return False
    groups = rule.get("apiGroups")
    if groups is None or ("*" not in groups and a["group"] not in groups):
        return False
    res = rule.get("resources") or []
    want = a["resource"] + ("/" + a["subresource"] if a.get("subresource") else "")
    if not ("*" in res or want in res or
            (a.get("subresource") and (a["resource"] + "/*" in res or "*/" + a["subresource"] in res))):
        return False
    names = rule.get("resourceNames") or []
    return not names or (a.get("name") or "") in names


class Rbac:
    def __init__(self, store, enabled):
        self.store = store
        self.enabled = enabled

    def _objs(self, group, plural):
        return list(self.store.objs[(group, plural)].values())

    def _role_rules(self, ref, ns):
        g = "rbac.authorization.k8s.io"
        if ref.get("kind") == "ClusterRole":
            obj = self.store.objs[(g, "clusterroles")].get(("", ref.get("name")))
        else:
            obj = self.store.objs[(g, "roles")].get((ns, ref.get("name")))
        return (obj or {}).get("rules") or []

    def allowed(self, user, groups, a):
        """a: {verb, group, resource, subresource, namespace, name} or {verb, path}."""
        if not self.enabled or "system:masters" in groups:
            return True
        if a.get("path") is not None and a["verb"] == "get" and \
                any(a["path"] == p or a["path"].startswith(p + "/") for p in PUBLIC):
            return True
        g = "rbac.authorization.k8s.io"
        with self.store.cond:
            for b in self._objs(g, "clusterrolebindings"):
                if any(_subject_matches(s, user, groups, "") for s in b.get("subjects") or []):
                    if any(_rule_allows(r, a) for r in self._role_rules(b.get("roleRef") or {}, "")):
                        return True
            ns = a.get("namespace")
            if ns and a.get("path") is None:
                for b in self._objs(g, "rolebindings"):
                    if b["metadata"].get("namespace") != ns:
                        continue
                    if any(_subject_matches(s, user, groups, ns) for s in b.get("subjects") or []):
                        if any(_rule_allows(r, a) for r in self._role_rules(b.get("roleRef") or {}, ns)):
                            return True
        return False


def forbidden_message(user, a, kind=None):
    if a.get("path") is not None:
        return f"forbidden: User \"{user}\" cannot {a['verb']} path \"{a['path']}\""
    res = a["resource"] + ("/" + a["subresource"] if a.get("subresource") else "")
    qual = f"{a['resource']}.{a['group']}" if a["group"] else a["resource"]
    subj = f"{qual} \"{a['name']}\"" if a.get("name") else qual
    where = f"in the namespace \"{a['namespace']}\"" if a.get("namespace") else "at the cluster scope"
    return (f"{subj} is forbidden: User \"{user}\" cannot {a['verb']} resource \"{res}\" in API group "
            f"\"{a['group']}\" {where}")
